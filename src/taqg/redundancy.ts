/**
 * Redundancy ρ of a phase: the mean pairwise cosine similarity of its key vectors, per layer
 * and KV head. Computed with the identity Σ_{i≠j} k̂_i·k̂_j = ‖Σ k̂‖² − n, which is exact and
 * O(n) where the pairwise matrix is O(n²).
 * @module
 */
import { type Phase, PHASES } from "../kv/types.ts";
import type { KvTrace } from "./trace.ts";

/** ρ of one trace: per phase, per layer, one value per KV head (NaN under two tokens). */
export type TraceRedundancy = Record<Phase, Float64Array[]>;

/** ρ over many traces, for the profile and the report. */
export interface RedundancySummary {
  /** Spread over traces of each trace's mean ρ across layers and heads. */
  byPhase: Record<Phase, Spread>;
  /** Per layer, spread over traces and heads. */
  byLayer: Record<Phase, Spread[]>;
}

// below this norm a key has no direction; the reference code skips such keys too
const MIN_NORM = 1e-8;

/**
 * Mean pairwise cosine similarity of the rows `rows` of `data`, each `dim` floats starting at
 * `row * stride + offset`. NaN when fewer than two rows have a direction.
 */
export function meanPairwiseCosine(
  data: Float32Array,
  rows: readonly number[],
  stride: number,
  offset: number,
  dim: number,
): number {
  const sum = new Float64Array(dim);
  let n = 0;
  for (const row of rows) {
    const base = row * stride + offset;
    let sq = 0;
    for (let i = 0; i < dim; i++) sq += data[base + i] ** 2;
    const norm = Math.sqrt(sq);
    if (norm < MIN_NORM) continue;
    for (let i = 0; i < dim; i++) sum[i] += data[base + i] / norm;
    n++;
  }
  if (n < 2) return NaN;
  let total = 0;
  for (let i = 0; i < dim; i++) total += sum[i] ** 2;
  return (total - n) / (n * (n - 1));
}

/** Measures ρ of every phase, layer and KV head of one trace. */
export function measureRedundancy(trace: KvTrace): TraceRedundancy {
  const rowsOf: Record<Phase, number[]> = { prompt: [], think: [], answer: [] };
  trace.phases.forEach((p, t) => rowsOf[p].push(t));
  const stride = trace.numKvHeads * trace.headDim;
  const out = {} as TraceRedundancy;
  for (const phase of PHASES) {
    out[phase] = trace.keys.map((keys) => {
      const perHead = new Float64Array(trace.numKvHeads);
      for (let h = 0; h < trace.numKvHeads; h++) {
        perHead[h] = meanPairwiseCosine(
          keys,
          rowsOf[phase],
          stride,
          h * trace.headDim,
          trace.headDim,
        );
      }
      return perHead;
    });
  }
  return out;
}

/** Aggregates per-trace ρ into spreads per phase and per layer; NaN entries are left out. */
export function summarizeRedundancy(perTrace: readonly TraceRedundancy[]): RedundancySummary {
  const byPhase = {} as Record<Phase, Spread>;
  const byLayer = {} as Record<Phase, Spread[]>;
  const numLayers = perTrace[0]?.prompt.length ?? 0;
  for (const phase of PHASES) {
    byPhase[phase] = spreadOf(
      perTrace.map((r) => finiteMean(r[phase].flatMap((h) => [...h])))
        .filter(Number.isFinite),
    );
    byLayer[phase] = Array.from(
      { length: numLayers },
      (_, layer) => spreadOf(perTrace.flatMap((r) => [...r[phase][layer]]).filter(Number.isFinite)),
    );
  }
  return { byPhase, byLayer };
}

function finiteMean(xs: readonly number[]): number {
  const finite = xs.filter(Number.isFinite);
  return finite.length === 0 ? NaN : finite.reduce((a, b) => a + b, 0) / finite.length;
}

/** Mean, population std, 95th percentile and count of a sample. */
export interface Spread {
  mean: number;
  std: number;
  p95: number;
  count: number;
}

/** Summarises `samples`; an empty sample gives NaN figures and a count of 0. */
export function spreadOf(samples: ArrayLike<number>): Spread {
  const count = samples.length;
  if (count === 0) return { mean: NaN, std: NaN, p95: NaN, count };
  let sum = 0;
  for (let i = 0; i < count; i++) sum += samples[i];
  const mean = sum / count;
  let sq = 0;
  for (let i = 0; i < count; i++) sq += (samples[i] - mean) ** 2;
  const sorted = Float64Array.from(samples).sort();
  // nearest-rank percentile: the smallest value with at least 95% of the sample at or below it
  const p95 = sorted[Math.max(0, Math.ceil(0.95 * count) - 1)];
  return { mean, std: Math.sqrt(sq / count), p95, count };
}
