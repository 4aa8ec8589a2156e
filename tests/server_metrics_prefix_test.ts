import { assertEquals } from "@std/assert";
import type { EngineStats } from "../src/engine/types.ts";
import { ServerMetrics } from "../src/server/metrics.ts";
import { metricValue, parseMetrics } from "./helpers/prometheus.ts";

const STATS: EngineStats = {
  numRunning: 1,
  numWaiting: 0,
  kvUsage: 0.5,
  kvBudgetBytes: 1024,
  kvBytes: {},
  tokensByPhase: { prompt: 10 },
  numPreemptions: 0,
  kvTokenCapacity: { f16: 64 },
  prefixCacheQueries: 40,
  prefixCacheHits: 32,
  kvDemotions: [{ phase: "think", dtype: "int3", blocks: 3, bytesFreed: 96 }],
  kvFloorSeals: [{ phase: "answer", dtype: "int2", blocks: 5, bytesFreed: 160 }],
};

Deno.test("/metrics: prefix-cache counters under vLLM's and phasekv's names, demotions by phase and dtype, all with model_name", () => {
  const text = new ServerMetrics().render(STATS, "tiny");
  const families = new Map(parseMetrics(text).map((f) => [f.name, f]));
  const model = { model_name: "tiny" };
  for (const prefix of ["vllm:prefix_cache", "phasekv_prefix_cache"]) {
    assertEquals(families.get(`${prefix}_queries_total`)?.type, "COUNTER");
    assertEquals(metricValue(text, `${prefix}_queries_total`, model), 40);
    assertEquals(metricValue(text, `${prefix}_hits_total`, model), 32);
  }
  const labels = { ...model, phase: "think", dtype: "int3" };
  assertEquals(metricValue(text, "phasekv_kv_demoted_blocks_total", labels), 3);
  assertEquals(metricValue(text, "phasekv_kv_demoted_bytes_total", labels), 96);
  // blocks sealed straight at their floor under pressure
  const answer = { ...model, phase: "answer", dtype: "int2" };
  assertEquals(metricValue(text, "phasekv_kv_floor_sealed_blocks_total", answer), 5);
  assertEquals(metricValue(text, "phasekv_kv_floor_sealed_bytes_total", answer), 160);
});
