/**
 * POST /v1/completions: a raw prompt, as text or token ids, no chat template; the text returned
 * is the raw output (see completion_format.ts for how reasoning is treated).
 * @module
 */
import type { EngineApi } from "../../engine/types.ts";
import { CompletionFormat } from "../completion_format.ts";
import { Generation } from "../generation.ts";
import { checkModel, toGenerateRequest } from "../request_mapping.ts";
import { parseBody } from "../request_body.ts";
import { respond } from "../respond.ts";
import { newIdentity } from "../response_identity.ts";
import { type Route, servedModel } from "../route.ts";
import { type CompletionRequest, completionRequestSchema } from "../schemas/completion.ts";
import { UsageTally } from "../usage.ts";

/** The text completions route. */
export const completionsRoute: Route = {
  method: "POST",
  path: "/v1/completions",
  async handle(c, deps) {
    const timer = deps.metrics.startRequest();
    const body = await parseBody(c, completionRequestSchema);
    const engine = deps.engine.get();
    const model = servedModel(deps, engine);
    checkModel(body.model, model);
    const identity = newIdentity("cmpl", model);
    const ids = promptIds(engine, body.prompt);
    const request = {
      ...toGenerateRequest(engine, body, ids, "prompt", identity.id),
      logprobs: body.logprobs ?? undefined,
    };
    const generation = await Generation.start(engine, request, c.req.raw.signal, timer);
    const format = new CompletionFormat(identity, body.include_reasoning ?? true);
    return respond(c, generation, format, {
      stream: body.stream ?? false,
      includeUsage: body.stream_options?.include_usage ?? false,
      tally: new UsageTally(request.promptIds.length),
      markers: engine.thinkMarkers ?? null,
      log: (line) => deps.log.info(line),
      tokenText: body.logprobs != null ? (id: number) => engine.decode([id]) : undefined,
      requestId: identity.id,
    });
  },
};

function promptIds(engine: EngineApi, prompt: CompletionRequest["prompt"]): number[] {
  const one = Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] !== "number"
    ? prompt[0]
    : prompt;
  return typeof one === "string" ? engine.encode(one) : [...(one as number[])];
}
