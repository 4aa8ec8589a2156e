/**
 * GET /metrics: Prometheus text exposition of the server's latencies and the engine's counters.
 * @module
 */
import type { Route } from "../route.ts";

/** The Prometheus scrape endpoint (open, like vLLM's). */
export const metricsRoute: Route = {
  method: "GET",
  path: "/metrics",
  async handle(c, deps) {
    const engine = deps.engine.engine;
    await engine?.refresh?.();
    const stats = engine?.stats() ?? null;
    // before the load the engine's id is unknown: the served name, or the engine-to-be's
    const modelName = deps.servedModelName ?? engine?.modelId ?? "";
    return c.text(deps.metrics.render(stats, modelName, engine?.kvPolicy), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    });
  },
};
