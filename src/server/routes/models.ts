/**
 * GET /v1/models and GET /v1/models/{model}: the one served model, with vLLM's extra fields.
 * @module
 */
import type { EngineApi } from "../../engine/types.ts";
import { checkModel } from "../request_mapping.ts";
import { type RouteDeps, servedModel } from "../route.ts";
import type { Route } from "../route.ts";

/** The list of served models. */
export const listModelsRoute: Route = {
  method: "GET",
  path: "/v1/models",
  handle(c, deps) {
    return c.json({ object: "list", data: [modelCard(deps, deps.engine.get())] });
  },
};

/** One served model by name; 404 for any other name. */
export const getModelRoute: Route = {
  method: "GET",
  path: "/v1/models/:model",
  handle(c, deps) {
    const engine = deps.engine.get();
    checkModel(c.req.param("model"), servedModel(deps, engine));
    return c.json(modelCard(deps, engine));
  },
};

const STARTED = Math.floor(Date.now() / 1000);

function modelCard(deps: RouteDeps, engine: EngineApi) {
  return {
    id: servedModel(deps, engine),
    object: "model",
    created: STARTED,
    owned_by: "phasekv",
    root: engine.modelId,
    max_model_len: engine.maxModelLen,
    // each phase's KV dtype and where it came from (default, profile, flag)
    kv_cache_dtypes: engine.kvPolicy,
  };
}
