/**
 * The TAQG paper's own measurement, reproduced as a named baseline so that comparisons with
 * the paper are made on the same tensors: keys averaged across KV heads, generated tokens only,
 * one min–max scale per phase tensor (`taqg/quantize.py::uniform_quantize`), values never
 * quantized, and the first ten answer keys standing in for queries over a non-causal softmax.
 * Its flaws are kept on purpose; the production metrics live in distortion.ts. (The paper's
 * experiment script quantizes with symmetric abs-max instead; the library's min–max is kept.)
 * @module
 */
import { type Phase, PHASES } from "../kv/types.ts";
import type { KvAllocation, LadderStep } from "./allocation.ts";
import type { KvConfig } from "./configs.ts";
import type { QuantizedCache } from "./quantize_cache.ts";
import { meanPairwiseCosine } from "./redundancy.ts";
import { type Spread, spreadOf } from "./stats.ts";
import type { KvTrace } from "./trace.ts";

/** The paper's measured figures for one trace at (b_think, b_answer). */
export interface PaperResult {
  /** Attention KL per layer that passed the paper's guards. */
  kl: Spread;
  /** α·b_think + (1−α)·b_answer, α the think share of generated tokens: no scale overhead. */
  bitsPerElement: number;
  /** Think share of the generated tokens. */
  alpha: number;
}

/** The paper's attention KL of one (b_think, b_answer) split over traces, for the report. */
export interface PaperRow {
  name: string;
  bThink: number;
  bAnswer: number;
  /** The paper's own bits per element: α·b_think + (1−α)·b_answer, no scales. */
  bitsPerElement: number;
  /** Spread over traces of each trace's mean over layers, as the paper reports it. */
  kl: Spread;
}

// the paper takes this many answer keys as query proxies
const NUM_PROXY_QUERIES = 10;
// the paper clamps probabilities before the log
const PROB_FLOOR = 1e-10;

/** One min–max scale over the whole tensor, 2^bits levels; 16 bits or a flat tensor pass through. */
export function perTensorMinMax(tensor: Float32Array, bits: number): Float32Array {
  if (bits >= 16) return tensor.slice();
  let min = Infinity;
  let max = -Infinity;
  for (const v of tensor) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const levels = 2 ** bits;
  const scale = (max - min) / (levels - 1);
  if (!(scale >= 1e-10)) return tensor.slice();
  return tensor.map((v) =>
    Math.min(levels - 1, Math.max(0, Math.round((v - min) / scale))) * scale + min
  );
}

/** The paper's key tensor of a layer: generated tokens, keys averaged over KV heads, (n, headDim). */
export function headAveragedKeys(trace: KvTrace, layer: number): Float32Array {
  const { numKvHeads, headDim } = trace;
  const first = firstGenerated(trace);
  const n = trace.tokens - first;
  const out = new Float32Array(n * headDim);
  const keys = trace.keys[layer];
  for (let t = 0; t < n; t++) {
    for (let h = 0; h < numKvHeads; h++) {
      const at = ((first + t) * numKvHeads + h) * headDim;
      for (let i = 0; i < headDim; i++) out[t * headDim + i] += keys[at + i] / numKvHeads;
    }
  }
  return out;
}

/**
 * The paper's ρ of think and answer on one trace: mean pairwise cosine of head-averaged keys on
 * each side of t*, averaged over the layers that pass its guards (NaN when none does).
 */
export function paperRedundancy(trace: KvTrace): { think: number; answer: number } {
  const { n, tStar } = boundary(trace);
  const d = trace.headDim;
  const think: number[] = [];
  const answer: number[] = [];
  if (n >= 4 && tStar >= 2) {
    const rows = Array.from({ length: n }, (_, t) => t);
    for (let layer = 0; layer < trace.numLayers; layer++) {
      const k = headAveragedKeys(trace, layer);
      think.push(meanPairwiseCosine(k, rows.slice(0, tStar), d, 0, d));
      answer.push(meanPairwiseCosine(k, rows.slice(tStar), d, 0, d));
    }
  }
  return {
    think: spreadOf(think.filter(Number.isFinite)).mean,
    answer: spreadOf(answer.filter(Number.isFinite)).mean,
  };
}

/** The paper's attention KL of a (b_think, b_answer) split on one trace, with its guards. */
export function paperAttentionKl(trace: KvTrace, bThink: number, bAnswer: number): PaperResult {
  const { n, tStar } = boundary(trace);
  const d = trace.headDim;
  const perLayer: number[] = [];
  for (let layer = 0; layer < trace.numLayers; layer++) {
    if (n < 4 || tStar < 2 || tStar >= n - 1) continue;
    const k = headAveragedKeys(trace, layer);
    const kq = new Float32Array(k.length);
    kq.set(perTensorMinMax(k.subarray(0, tStar * d), bThink), 0);
    kq.set(perTensorMinMax(k.subarray(tStar * d), bAnswer), tStar * d);
    const numQueries = Math.min(NUM_PROXY_QUERIES, n - tStar);
    let sum = 0;
    for (let qi = 0; qi < numQueries; qi++) {
      sum += proxyKl(k, kq, k.subarray((tStar + qi) * d, (tStar + qi + 1) * d), n, d);
    }
    const kl = sum / numQueries;
    if (Number.isFinite(kl)) perLayer.push(kl);
  }
  const alpha = n > 0 ? tStar / n : 0.5;
  return { kl: spreadOf(perLayer), bitsPerElement: alpha * bThink + (1 - alpha) * bAnswer, alpha };
}

/** Runs `paperAttentionKl` on every trace and aggregates it as the paper does. */
export function paperRow(
  traces: readonly KvTrace[],
  name: string,
  bThink: number,
  bAnswer: number,
): PaperRow {
  const results = traces.map((t) => paperAttentionKl(t, bThink, bAnswer));
  return {
    name,
    bThink,
    bAnswer,
    bitsPerElement: results.reduce((a, r) => a + r.bitsPerElement, 0) / results.length,
    kl: spreadOf(results.filter((r) => r.kl.count > 0).map((r) => r.kl.mean)),
  };
}

/**
 * The paper's quantizer on the full cache, for the production metrics: per layer, one min–max
 * scale over each phase's keys (all KV heads together), values left unquantized as the paper
 * leaves them; a phase at 16 bits passes through.
 */
export function paperQuantizedCache(
  trace: KvTrace,
  bits: Readonly<Record<Phase, number>>,
): QuantizedCache {
  const stride = trace.numKvHeads * trace.headDim;
  const keys = trace.keys.map((layerKeys) => {
    const out = layerKeys.slice();
    for (const phase of Object.keys(bits) as Phase[]) {
      const rows = trace.phases.flatMap((p, t) => (p === phase ? [t] : []));
      const gathered = new Float32Array(rows.length * stride);
      rows.forEach((t, i) =>
        gathered.set(layerKeys.subarray(t * stride, (t + 1) * stride), i * stride)
      );
      const quantized = perTensorMinMax(gathered, bits[phase]);
      rows.forEach((t, i) => out.set(quantized.subarray(i * stride, (i + 1) * stride), t * stride));
    }
    return out;
  });
  return { keys, values: trace.values.map((v) => v.slice()) };
}

/**
 * The paper's quantizer as a configuration, at the bits per phase of `allocation`'s keys: what
 * the production metrics say of it, with its unquantized values counted at 16 bits.
 */
export function paperConfig(allocation: KvAllocation, ladder: readonly LadderStep[]): KvConfig {
  const bitsOf = (dtype: string) => ladder.find((s) => s.dtype === dtype)?.bits ?? 16;
  const bits = Object.fromEntries(
    PHASES.map((p) => [p, bitsOf(allocation.phases[p].key)]),
  ) as Record<
    Phase,
    number
  >;
  return {
    name: `paper per-tensor K only (think ${bits.think} / answer ${bits.answer})`,
    kind: "paper",
    allocation: null,
    apply(ctx) {
      const { phases, tokens } = ctx.trace;
      // one scale per phase tensor is negligible; values stay at 16 bits, as the paper leaves them
      const keyBits = phases.reduce((sum, p) => sum + bits[p], 0) / tokens;
      return { cache: paperQuantizedCache(ctx.trace, bits), bits: (keyBits + 16) / 2 };
    },
  };
}

function proxyKl(k: Float32Array, kq: Float32Array, q: Float32Array, n: number, d: number): number {
  const p = clampedSoftmax(k, q, n, d);
  const r = clampedSoftmax(kq, q, n, d);
  let kl = 0;
  for (let j = 0; j < n; j++) kl += p[j] * (Math.log(p[j]) - Math.log(r[j]));
  return kl;
}

function clampedSoftmax(k: Float32Array, q: Float32Array, n: number, d: number): Float64Array {
  const s = new Float64Array(n);
  let max = -Infinity;
  for (let j = 0; j < n; j++) {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += q[i] * k[j * d + i];
    s[j] = dot / Math.sqrt(d);
    if (s[j] > max) max = s[j];
  }
  let sum = 0;
  for (let j = 0; j < n; j++) sum += s[j] = Math.exp(s[j] - max);
  for (let j = 0; j < n; j++) s[j] = Math.max(PROB_FLOOR, s[j] / sum);
  return s;
}

/** Generated tokens n and the paper's t*: generated tokens before the first answer token. */
function boundary(trace: KvTrace): { n: number; tStar: number } {
  const first = firstGenerated(trace);
  const n = trace.tokens - first;
  const answerAt = trace.phases.indexOf("answer", first);
  return { n, tStar: answerAt === -1 ? n : answerAt - first };
}

function firstGenerated(trace: KvTrace): number {
  const i = trace.phases.findIndex((p) => p !== "prompt");
  return i === -1 ? trace.tokens : i;
}
