/**
 * Per-kernel oracles: plain TypeScript versions of every kernel in kernels/, in f64, written
 * from the math rather than from the WGSL, for the GPU tests to compare against.
 * @module
 */
import { f32ToF16Bits } from "../../src/model/tensor_convert.ts";

/** Values rounded to f16, as the GPU stores weights and KV. */
export function roundF16Array(values: Float32Array): Float32Array {
  return values.map((v) => Math.f16round(v));
}

/** f32 values as f16 pairs in u32 words (element 2i in the low half). */
export function packF16(values: Float32Array): Uint32Array {
  const bits = f32ToF16Bits(values);
  return new Uint32Array(bits.buffer, bits.byteOffset, bits.length / 2);
}

/** RMSNorm of `rows` vectors of `w.length` floats. */
export function rmsnormRef(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  const dim = w.length;
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i] ** 2;
    const scale = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[r * dim + i] = x[r * dim + i] * scale * w[i];
  }
  return out;
}

/** y[r][n] = Σ_k x[r][k] w[n][k] + bias[n] + residual[r][n] (bias and residual optional). */
export function matmulRef(
  x: Float32Array,
  w: Float32Array,
  k: number,
  bias?: Float32Array,
  residual?: Float32Array,
): Float32Array {
  const rows = x.length / k;
  const n = w.length / k;
  const y = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let i = 0; i < k; i++) s += x[r * k + i] * w[j * k + i];
      y[r * n + j] = s + (residual ? residual[r * n + j] : 0);
    }
  }
  return y;
}

/** RoPE (rotate-half) of every head of one row at `position`, theta^(-2i/d) in f64. */
export function ropeRef(
  row: Float32Array,
  headDim: number,
  position: number,
  theta: number,
): Float32Array {
  const out = row.slice();
  const half = headDim / 2;
  for (let base = 0; base < row.length; base += headDim) {
    for (let i = 0; i < half; i++) {
      const angle = position * Math.pow(theta, (-2 * i) / headDim);
      const a = row[base + i];
      const b = row[base + i + half];
      out[base + i] = a * Math.cos(angle) - b * Math.sin(angle);
      out[base + i + half] = b * Math.cos(angle) + a * Math.sin(angle);
    }
  }
  return out;
}

/** silu(gate) * up for rows of [gate | up]. */
export function swigluRef(gateUp: Float32Array, inter: number): Float32Array {
  const rows = gateUp.length / (2 * inter);
  const out = new Float32Array(rows * inter);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < inter; i++) {
      const g = gateUp[r * 2 * inter + i];
      out[r * inter + i] = (g / (1 + Math.exp(-g))) * gateUp[r * 2 * inter + inter + i];
    }
  }
  return out;
}

/** KV shapes of the f16 block layout. */
export interface KvShape {
  numKvHeads: number;
  blockSize: number;
  headDim: number;
}

/** Word index in a pool of K (or V) element (kvh, t, d) of the f16 block at `wordOffset`. */
export function f16KvWord(
  s: KvShape,
  wordOffset: number,
  v: boolean,
  kvh: number,
  t: number,
  d: number,
): number {
  const section = v ? (s.numKvHeads * s.blockSize * s.headDim) / 2 : 0;
  return wordOffset + section + ((kvh * s.blockSize + t) * s.headDim + d) / 2;
}

/** Reads element (kvh, t, d) of K or V from an f16 block of `pool`. */
export function readF16Kv(
  pool: Uint32Array,
  s: KvShape,
  wordOffset: number,
  v: boolean,
  kvh: number,
  t: number,
  d: number,
): number {
  const e = (kvh * s.blockSize + t) * s.headDim + d;
  const word = pool[f16KvWord(s, wordOffset, v, kvh, t, d - (e & 1))];
  const half = (e & 1) ? word >>> 16 : word & 0xffff;
  return new Float16Array(new Uint16Array([half]).buffer)[0];
}

/** Causal attention of one query row over positions 0..position of a sequence. */
export function attentionRef(
  q: Float32Array,
  numHeads: number,
  numKvHeads: number,
  headDim: number,
  keyAt: (pos: number, kvh: number, d: number) => number,
  valueAt: (pos: number, kvh: number, d: number) => number,
  position: number,
): Float32Array {
  const out = new Float32Array(numHeads * headDim);
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < numHeads; h++) {
    const kvh = Math.floor(h / group);
    const scores: number[] = [];
    for (let p = 0; p <= position; p++) {
      let s = 0;
      for (let d = 0; d < headDim; d++) s += q[h * headDim + d] * keyAt(p, kvh, d);
      scores.push(s * scale);
    }
    const m = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - m));
    const z = e.reduce((a, b) => a + b, 0);
    for (let d = 0; d < headDim; d++) {
      let o = 0;
      for (let p = 0; p <= position; p++) o += e[p] * valueAt(p, kvh, d);
      out[h * headDim + d] = o / z;
    }
  }
  return out;
}

/** Sampling settings as the kernel reads them. */
export interface SampleSettings {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  seedLo: number;
  seedHi: number;
  index: number;
}

/** The kernel's counter-based hash (PCG output permutation). */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The uniform draw in [0, 1) for (seed, index). */
export function uniform01(seedLo: number, seedHi: number, index: number): number {
  const h = pcgHash((seedLo ^ pcgHash((seedHi ^ pcgHash(index)) >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

/** Which tokens survive top-k, then min-p, then top-p (ties at a cut-off are kept). */
export function keptTokens(logits: Float32Array, s: SampleSettings): boolean[] {
  // A loop, not Math.max(...logits): a 151,936-entry spread overflows the stack.
  const m = logits.reduce((a, v) => Math.max(a, v), -Infinity);
  let cut = -Infinity;
  if (s.topK > 0 && s.topK < logits.length) {
    cut = [...logits].sort((a, b) => b - a)[s.topK - 1];
  }
  if (s.minP > 0) cut = Math.max(cut, Math.fround(m + s.temperature * Math.log(s.minP)));
  const weight = (v: number) => Math.exp((v - m) / s.temperature);
  if (s.topP < 1) {
    const kept = [...logits].filter((v) => v >= cut).sort((a, b) => b - a);
    const target = s.topP * kept.reduce((a, v) => a + weight(v), 0);
    // Smallest prefix (whole tie groups) of the sorted kept tokens reaching the target mass.
    let mass = 0;
    for (let i = 0; i < kept.length; i++) {
      mass += weight(kept[i]);
      if (mass >= target && (i + 1 === kept.length || kept[i + 1] < kept[i])) {
        cut = Math.max(cut, kept[i]);
        break;
      }
    }
  }
  return [...logits].map((v) => v >= cut);
}

/** The token the kernel samples: argmax at temperature 0, else the seeded walk over kept tokens. */
export function sampleRef(logits: Float32Array, s: SampleSettings): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (s.temperature <= 0) return best;
  const kept = keptTokens(logits, s);
  const m = logits[best];
  const w = [...logits].map((v, i) => kept[i] ? Math.exp((v - m) / s.temperature) : 0);
  const u = uniform01(s.seedLo, s.seedHi, s.index) * w.reduce((a, b) => a + b, 0);
  let acc = 0;
  let last = best;
  for (let i = 0; i < w.length; i++) {
    if (!kept[i]) continue;
    last = i;
    acc += w[i];
    if (acc > u) return i;
  }
  return last;
}

/**
 * Logits after OpenAI presence and frequency penalties over the tokens generated so far, as vLLM
 * applies them: logit[t] - (frequency * count[t] + presence * (count[t] > 0)).
 */
export function penalizedLogitsRef(
  logits: Float32Array,
  generated: readonly number[],
  penalties: { presence: number; frequency: number },
): Float32Array {
  const count = new Map<number, number>();
  for (const t of generated) count.set(t, (count.get(t) ?? 0) + 1);
  const out = Float32Array.from(logits);
  for (const [t, c] of count) out[t] = logits[t] - (penalties.frequency * c + penalties.presence);
  return out;
}

/** Oracle of kernels/logprobs.wgsl: the token's logprob and the `top` most likely tokens. */
export function logprobsRef(
  logits: Float32Array,
  token: number,
  top: number,
): { logprob: number; top: { token: number; logprob: number }[] } {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b);
  return {
    logprob: logits[token] - lse,
    top: order.slice(0, top).map((i) => ({ token: i, logprob: logits[i] - lse })),
  };
}
