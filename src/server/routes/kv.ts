/**
 * GET /v1/kv: the live KV block map (each running request's blocks with their phase and dtype)
 * and the cache's fill, for dashboards and for seeing the per-phase dtypes at work (the
 * playground's KV panel polls it).
 * @module
 */
import type { Route } from "../route.ts";

/** The live block map. */
export const kvRoute: Route = {
  method: "GET",
  path: "/v1/kv",
  async handle(c, deps) {
    const engine = deps.engine.get();
    await engine.refresh?.();
    const stats = engine.stats();
    return c.json({
      object: "kv_block_map",
      kv_cache_usage_perc: stats.kvUsage,
      kv_budget_bytes: stats.kvBudgetBytes,
      kv_bytes: stats.kvBytes,
      num_running: stats.numRunning,
      num_waiting: stats.numWaiting,
      data: engine.blockMap().map((entry) => ({
        request_id: entry.requestId,
        blocks: entry.blocks.map((b) => ({
          phase: b.phase,
          dtype: b.dtype,
          tokens: b.tokens,
          ...(b.bytes === undefined ? {} : { bytes: b.bytes }),
          ...(b.f16Bytes === undefined ? {} : { f16_bytes: b.f16Bytes }),
          // open, demoted, shared: present when the engine reports them
          ...(b.open === undefined ? {} : { open: b.open }),
          ...(b.demoted === undefined ? {} : { demoted: b.demoted }),
          ...(b.shared === undefined ? {} : { shared: b.shared }),
        })),
      })),
    });
  },
};
