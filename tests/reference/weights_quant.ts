/**
 * Oracle of weight quantization (kernels/quantize_weights.wgsl): symmetric integers with one
 * f16 scale per group of `group` inputs along each row.
 * @module
 */

/** A quantized [rows][cols] matrix: integer codes and per-(row, group) scales. */
export interface QuantRef {
  q: Int8Array;
  scales: Float32Array;
  groups: number;
}

/** Round half to even, as WGSL's round(). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Quantizes `w` ([rows][cols], f16-representable values) to `bits` bits in groups. */
export function quantizeRef(
  w: Float32Array,
  cols: number,
  bits: number,
  group: number,
): QuantRef {
  const rows = w.length / cols;
  const groups = Math.ceil(cols / group);
  const qmax = 2 ** (bits - 1) - 1;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const end = Math.min(cols, (g + 1) * group);
      let m = 0;
      for (let k = g * group; k < end; k++) m = Math.max(m, Math.abs(w[r * cols + k]));
      const s = Math.f16round(Math.fround(m / qmax));
      scales[r * groups + g] = s;
      for (let k = g * group; k < end && s > 0; k++) {
        const v = roundHalfEven(Math.fround(w[r * cols + k] / s));
        q[r * cols + k] = Math.max(-qmax, Math.min(qmax, v));
      }
    }
  }
  return { q, scales, groups };
}

/** The matrix a quantized one stands for: q * scale. */
export function dequantizeRef(ref: QuantRef, cols: number, group: number): Float32Array {
  return Float32Array.from(ref.q, (v, i) => {
    const r = Math.floor(i / cols);
    return v * ref.scales[r * ref.groups + Math.floor((i % cols) / group)];
  });
}

/**
 * Unpacks the kernel's q words ([rows][ceil(cols * bits / 32)], code + 2^(bits-1), input j of
 * each 4-input chunk at bit bits * (j / 2) + 16 * (j % 2), chunk h at bit 2 * bits * h) into codes.
 */
export function unpackCodes(
  words: Uint32Array,
  rows: number,
  cols: number,
  bits: number,
): Int8Array {
  const rowWords = Math.ceil((cols * bits) / 32);
  const per = 32 / bits;
  const out = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols; k++) {
      const word = words[r * rowWords + Math.floor(k / per)];
      const i = k % per;
      const j = i % 4;
      const bit = 2 * bits * Math.floor(i / 4) + bits * Math.floor(j / 2) + 16 * (j % 2);
      out[r * cols + k] = ((word >>> bit) & ((1 << bits) - 1)) - (1 << (bits - 1));
    }
  }
  return out;
}
