/**
 * The orthonormal Walsh-Hadamard transform, the rotation QuaRot and llama.cpp apply to K and V
 * before low-bit quantization. H/sqrt(n) is symmetric and its own inverse, so rotating q and k
 * alike keeps q·k, and rotating an attention output undoes the rotation of V.
 * @module
 */

/** Rotates x[offset .. offset+n) in place by H_n/sqrt(n); n must be a power of two. */
export function hadamardInPlace(x: Float32Array, offset: number, n: number): void {
  if (n <= 0 || (n & (n - 1)) !== 0) {
    throw new RangeError(`Hadamard size ${n} is not a power of two`);
  }
  for (let len = 1; len < n; len *= 2) {
    for (let i = 0; i < n; i += 2 * len) {
      for (let j = i; j < i + len; j++) {
        const a = x[offset + j], b = x[offset + j + len];
        x[offset + j] = a + b;
        x[offset + j + len] = a - b;
      }
    }
  }
  const norm = 1 / Math.sqrt(n);
  for (let i = 0; i < n; i++) x[offset + i] *= norm;
}

/** A copy of `x` with every consecutive run of n values rotated. */
export function hadamardRows(x: Float32Array, n: number): Float32Array {
  const out = x.slice();
  for (let i = 0; i < out.length; i += n) hadamardInPlace(out, i, n);
  return out;
}

/** A copy of `x` with every run of n = signs.length values mapped to H·(s ⊙ x)/√n. */
export function rotateRows(x: Float32Array, signs: Float32Array): Float32Array {
  const n = signs.length;
  const out = x.slice();
  for (let i = 0; i < out.length; i += n) {
    for (let j = 0; j < n; j++) out[i + j] *= signs[j];
    hadamardInPlace(out, i, n);
  }
  return out;
}

/** The inverse of rotateRows: s ⊙ (H·y)/√n on every run of n values. */
export function unrotateRows(y: Float32Array, signs: Float32Array): Float32Array {
  const n = signs.length;
  const out = y.slice();
  for (let i = 0; i < out.length; i += n) {
    hadamardInPlace(out, i, n);
    for (let j = 0; j < n; j++) out[i + j] *= signs[j];
  }
  return out;
}
