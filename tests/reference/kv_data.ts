/**
 * Synthetic K and V with the structure of real ones: keys have a few outlier channels (large
 * per-channel scale and offset, as KIVI and KVQuant report), values do not.
 * @module
 */
import type { KvLayout } from "../../src/kv/layout.ts";
import type { KvBlockValues } from "./kv_codec.ts";

/** A seeded uniform stream in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded standard normal stream. */
export function gaussian(seed: number): () => number {
  const u = seeded(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Per-channel (scale, offset) of keys: every 16th channel is an outlier (×12, offset ±4). */
export function keyChannelStats(
  headDim: number,
  seed: number,
): { scale: number[]; offset: number[] } {
  const g = gaussian(seed);
  const scale = Array.from(
    { length: headDim },
    (_, d) => (d % 16 === 3 ? 12 : 0.6 + 0.4 * Math.abs(g())),
  );
  const offset = Array.from(
    { length: headDim },
    (_, d) => (d % 16 === 3 ? 4 * Math.sign(g()) : 0.3 * g()),
  );
  return { scale, offset };
}

/** [tokens][heads][headDim] keys with outlier channels and values without, from `seed`. */
export function syntheticKv(
  numTokens: number,
  numKvHeads: number,
  headDim: number,
  seed: number,
): { k: Float32Array; v: Float32Array } {
  const g = gaussian(seed);
  const stats = Array.from(
    { length: numKvHeads },
    (_, h) => keyChannelStats(headDim, seed * 31 + h),
  );
  const k = new Float32Array(numTokens * numKvHeads * headDim);
  const v = new Float32Array(k.length);
  for (let t = 0; t < numTokens; t++) {
    for (let h = 0; h < numKvHeads; h++) {
      for (let d = 0; d < headDim; d++) {
        const i = (t * numKvHeads + h) * headDim + d;
        k[i] = stats[h].offset[d] + stats[h].scale[d] * g();
        v[i] = g();
      }
    }
  }
  return { k, v };
}

/** One block ([heads][blockSize][headDim]) of synthetic K and V. */
export function randomBlock(layout: KvLayout, seed: number): KvBlockValues {
  const { numKvHeads: hh, blockSize: b, headDim: dd } = layout;
  const src = syntheticKv(b, hh, dd, seed);
  const k = new Float32Array(hh * b * dd), v = new Float32Array(k.length);
  for (let t = 0; t < b; t++) {
    for (let h = 0; h < hh; h++) {
      const from = (t * hh + h) * dd, to = (h * b + t) * dd;
      k.set(src.k.subarray(from, from + dd), to);
      v.set(src.v.subarray(from, from + dd), to);
    }
  }
  return { k, v };
}
