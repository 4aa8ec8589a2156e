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
    return c.text(deps.metrics.render(engine?.stats() ?? null, engine?.kvPolicy), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    });
  },
};
