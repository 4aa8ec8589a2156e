/**
 * The server's metrics: latencies it measures itself while streaming (time to first token,
 * inter-token latency, end to end) and the engine's live counters, rendered for /metrics.
 * The series routers and dashboards read carry vLLM's own names (`vllm:num_requests_waiting`,
 * `vllm:kv_cache_usage_perc`, …) and its `model_name` label, so a phasekv replica drops in behind
 * an existing router; phasekv's per-phase series (`phasekv_*`) stand beside them.
 * @module
 */
import type { EngineStats, GenerateOutput } from "../engine/types.ts";
import type { KvPolicy } from "../kv/policy.ts";
import { PHASES } from "../kv/types.ts";
import { Histogram } from "./histogram.ts";
import { family, type Labels } from "./prometheus.ts";

// vLLM's edges, with finer ones at the bottom of the ITL scale for small models
const TTFT_EDGES = [
  0.001,
  0.005,
  0.01,
  0.02,
  0.04,
  0.06,
  0.08,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
  20,
  40,
  80,
  160,
  640,
  2560,
];
const ITL_EDGES = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.15,
  0.2,
  0.3,
  0.4,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
  20,
  40,
  80,
];
const E2E_EDGES = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480];

/** Latency histograms and request counters owned by one app. */
export class ServerMetrics {
  readonly #ttft = new Histogram(TTFT_EDGES);
  readonly #itl = new Histogram(ITL_EDGES);
  readonly #e2e = new Histogram(E2E_EDGES);
  readonly #finished = new Map<string, number>();

  /** A timer for one request, started now. */
  startRequest(): RequestTimer {
    return new RequestTimer(this.#ttft, this.#itl, (seconds, reason) => {
      this.#e2e.observe(seconds);
      this.#finished.set(reason, (this.#finished.get(reason) ?? 0) + 1);
    });
  }

  /** The Prometheus text of the server's metrics and, once loaded, the engine's. */
  render(stats: EngineStats | null, modelName: string, policy?: KvPolicy): string {
    const model = { model_name: modelName };
    const lines: string[] = [];
    if (stats) lines.push(...engineLines(stats, model));
    if (policy) lines.push(...policyLines(policy, model));
    lines.push(
      ...family(
        "vllm:request_success_total",
        "counter",
        "Requests finished, by finish reason.",
        [...this.#finished].map(([reason, value]) => ({
          labels: { ...model, finished_reason: reason },
          value,
        })),
      ),
      ...this.#ttft.render("vllm:time_to_first_token_seconds", "Time to first token.", model),
      ...this.#itl.render(
        "vllm:inter_token_latency_seconds",
        "Time between output tokens.",
        model,
      ),
      ...this.#e2e.render(
        "vllm:e2e_request_latency_seconds",
        "Request latency, end to end.",
        model,
      ),
    );
    return lines.join("\n") + "\n";
  }
}

/** Measures one request's token timings as its outputs stream out. */
export class RequestTimer {
  readonly #start = performance.now();
  #last: number | null = null;
  #first: number | null = null;
  #done = false;
  readonly #ttft: Histogram;
  readonly #itl: Histogram;
  readonly #onFinish: (seconds: number, reason: string) => void;

  /** Use ServerMetrics.startRequest(). */
  constructor(ttft: Histogram, itl: Histogram, onFinish: (s: number, reason: string) => void) {
    this.#ttft = ttft;
    this.#itl = itl;
    this.#onFinish = onFinish;
  }

  /** Records an output's arrival (outputs without tokens do not count). */
  observe(output: GenerateOutput): void {
    const n = output.tokenIds.length;
    if (n === 0) return;
    const now = performance.now();
    if (this.#last === null) {
      this.#first = now;
      this.#ttft.observe((now - this.#start) / 1000);
    } else {
      // an output can carry several tokens (readback lag); each gets its share of the gap
      const perToken = (now - this.#last) / 1000 / n;
      for (let i = 0; i < n; i++) this.#itl.observe(perToken);
    }
    this.#last = now;
  }

  /** Seconds to the first token (null before it) and since the request started. */
  timings(): { ttftSeconds: number | null; seconds: number } {
    return {
      ttftSeconds: this.#first === null ? null : (this.#first - this.#start) / 1000,
      seconds: (performance.now() - this.#start) / 1000,
    };
  }

  /** Records the end of the request once; later calls are ignored. */
  finish(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#onFinish((performance.now() - this.#start) / 1000, reason);
  }
}

function policyLines(policy: KvPolicy, model: Labels): string[] {
  return family(
    "phasekv_kv_cache_dtype_info",
    "gauge",
    "Each phase's KV dtype and where it came from (default, profile, flag); always 1.",
    PHASES.map((phase) => ({ labels: { ...model, phase, ...policy[phase] }, value: 1 })),
  );
}

function engineLines(stats: EngineStats, model: Labels): string[] {
  const kvBytes = Object.entries(stats.kvBytes).flatMap(([phase, byDtype]) =>
    Object.entries(byDtype).map(([dtype, value]) => ({ labels: { ...model, phase, dtype }, value }))
  );
  const tokens = Object.entries(stats.tokensByPhase).map(([phase, value]) => ({
    labels: { ...model, phase },
    value,
  }));
  const generated = (stats.tokensByPhase.think ?? 0) + (stats.tokensByPhase.answer ?? 0);
  return [
    ...family("vllm:num_requests_running", "gauge", "Requests in the running batch.", [
      { labels: model, value: stats.numRunning },
    ]),
    ...family("vllm:num_requests_waiting", "gauge", "Requests waiting to be scheduled.", [
      { labels: model, value: stats.numWaiting },
    ]),
    ...family("vllm:kv_cache_usage_perc", "gauge", "Fraction of the KV byte budget in use (0-1).", [
      { labels: model, value: stats.kvUsage },
    ]),
    ...family("vllm:prompt_tokens_total", "counter", "Prompt tokens prefilled.", [
      { labels: model, value: stats.tokensByPhase.prompt ?? 0 },
    ]),
    ...family("vllm:generation_tokens_total", "counter", "Tokens generated, think and answer.", [
      { labels: model, value: generated },
    ]),
    ...family("vllm:num_preemptions_total", "counter", "Sequences preempted.", [
      { labels: model, value: stats.numPreemptions },
    ]),
    ...family("phasekv_kv_cache_budget_bytes", "gauge", "KV cache byte budget.", [
      { labels: model, value: stats.kvBudgetBytes },
    ]),
    ...family(
      "phasekv_kv_cache_bytes",
      "gauge",
      "KV cache bytes in use, by phase and dtype.",
      kvBytes,
    ),
    ...family(
      "phasekv_tokens_total",
      "counter",
      "Tokens prefilled or generated, by phase.",
      tokens,
    ),
    ...kvExtraFamilies(stats, model),
  ];
}

/** Demotion and prefix-cache counters (absent from engines that do not report them). */
function kvExtraFamilies(stats: EngineStats, model: Labels): string[] {
  const byPhase = (counts: EngineStats["kvDemotions"], value: "blocks" | "bytesFreed") =>
    (counts ?? []).map((d) => ({
      labels: { ...model, phase: d.phase, dtype: d.dtype },
      value: d[value],
    }));
  const blocks = byPhase(stats.kvDemotions, "blocks");
  const bytes = byPhase(stats.kvDemotions, "bytesFreed");
  const prefix = (value: number | undefined) =>
    value === undefined ? [] : [{ labels: model, value }];
  const queries = prefix(stats.prefixCacheQueries);
  const hits = prefix(stats.prefixCacheHits);
  return [
    // vLLM's names first (routers read them), then phasekv's own
    ...family(
      "vllm:prefix_cache_queries_total",
      "counter",
      "Prompt tokens looked up in the prefix cache.",
      queries,
    ),
    ...family(
      "vllm:prefix_cache_hits_total",
      "counter",
      "Prompt tokens served from the prefix cache.",
      hits,
    ),
    ...family(
      "phasekv_prefix_cache_queries_total",
      "counter",
      "Prompt tokens looked up in the prefix cache.",
      queries,
    ),
    ...family(
      "phasekv_prefix_cache_hits_total",
      "counter",
      "Prompt tokens served from the prefix cache.",
      hits,
    ),
    ...family(
      "phasekv_kv_demoted_blocks_total",
      "counter",
      "Sealed blocks demoted to a smaller dtype, by phase and destination dtype.",
      blocks,
    ),
    ...family(
      "phasekv_kv_demoted_bytes_total",
      "counter",
      "KV bytes demotions gave back, by phase and destination dtype.",
      bytes,
    ),
    ...family(
      "phasekv_kv_floor_sealed_blocks_total",
      "counter",
      "Blocks sealed straight at their phase's demotion floor while memory was short, by phase and dtype.",
      byPhase(stats.kvFloorSeals, "blocks"),
    ),
    ...family(
      "phasekv_kv_floor_sealed_bytes_total",
      "counter",
      "KV bytes sealing at the floor saved against the phase's own dtype, by phase and dtype.",
      byPhase(stats.kvFloorSeals, "bytesFreed"),
    ),
  ];
}
