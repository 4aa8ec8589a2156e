/**
 * The engine's KV rotation: each head vector x (q, k and v alike) becomes H·(s ⊙ x)/√D, with H
 * the D×D Walsh-Hadamard matrix and s a fixed ±1 vector drawn from KV_ROTATION.seed. The map is
 * orthogonal, so rotating q and k keeps every score, and rotating an attention output back
 * (x = s ⊙ (H·y)/√D) undoes the rotation of V. kernels/kv_rotate.wgsl applies it on the GPU;
 * tests/reference/hadamard.ts is its oracle.
 * @module
 */
import { KV_ROTATION } from "./dtype.ts";

/** Whether vectors of `headDim` channels can be rotated (a power of two, at least 2). */
export function canRotate(headDim: number): boolean {
  return Number.isInteger(headDim) && headDim >= 2 && (headDim & (headDim - 1)) === 0;
}

/** The ±1 signs s of the rotation of `headDim`-channel vectors (the same for every head). */
export function rotationSigns(headDim: number, seed: number = KV_ROTATION.seed): Float32Array {
  if (!canRotate(headDim)) {
    throw new RangeError(`KV rotation needs a power-of-two head_dim, got ${headDim}`);
  }
  // mulberry32: a fixed, portable stream, so the signs never depend on the platform
  let state = seed >>> 0;
  return Float32Array.from({ length: headDim }, () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) & 1 ? -1 : 1;
  });
}

/**
 * Narrowest head the engine rotates by default. Measured by `deno task bench:kv`
 * (reports/bench/kv.md): at head_dim 32 the rotation lowers every dtype's attention KL, at
 * head_dim 8 (stories260k) it raises the KIVI and fp8 ones.
 */
export const ROTATION_MIN_HEAD_DIM = 32;

/** Whether an engine whose heads have `headDim` channels rotates K and V by default. */
export function rotatesByDefault(headDim: number): boolean {
  return canRotate(headDim) && headDim >= ROTATION_MIN_HEAD_DIM;
}
