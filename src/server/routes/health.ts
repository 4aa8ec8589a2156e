/**
 * GET /health: 200 `{"status":"ok"}` once the engine is loaded, 503 in OpenAI's error shape
 * while it loads or after it failed (as llama.cpp's server answers).
 * @module
 */
import type { Route } from "../route.ts";

/** The health check (open even when API keys are set, for load balancers). */
export const healthRoute: Route = {
  method: "GET",
  path: "/health",
  handle(c, deps) {
    deps.engine.get();
    return c.json({ status: "ok" });
  },
};
