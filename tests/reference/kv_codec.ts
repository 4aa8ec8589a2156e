/**
 * Plain-TypeScript oracle of the KV block codecs (layouts in src/kv/layout.ts). It mirrors the
 * f32 arithmetic of kernels/kv_seal.wgsl step by step (Math.fround after every operation), so
 * the GPU seal is expected to produce identical codes and scales. Decoding is the runtime's one
 * CPU decoder (src/kv/block_decode.ts), re-exported here for the tests.
 * @module
 */
import {
  decodeKvBlock,
  decodeKvElement,
  kvCodeIndex,
  kvElementParams,
} from "../../src/kv/block_decode.ts";
import type { KvDtype } from "../../src/kv/dtype.ts";
import { type KvLayout, type kvSections, vGroupSize } from "../../src/kv/layout.ts";

/** K and V of one block, each [numKvHeads][blockSize][headDim]. */
export interface KvBlockValues {
  k: Float32Array;
  v: Float32Array;
}

const f32 = Math.fround;
const F16 = new Float16Array(1);
const F16_BITS = new Uint16Array(F16.buffer);

/** f16 bits of x, rounded to nearest even. */
export function f16Bits(x: number): number {
  F16[0] = x;
  return F16_BITS[0];
}

/** The value of f16 bits. */
export function f16Value(bits: number): number {
  F16_BITS[0] = bits;
  return F16[0];
}

/** The smallest f16 at or above x ≥ 0 (a scale rounded up never shrinks the range it covers). */
export function f16BitsUp(x: number): number {
  const h = f16Bits(x);
  return f16Value(h) < x ? h + 1 : h;
}

/** Rounds half to even, as WGSL round() does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The OCP e4m3 code of x (bias 7, max 448, no infinities; saturates; rounds to nearest even). */
export function e4m3Encode(x: number): number {
  const sign = x < 0 ? 0x80 : 0;
  const a = Math.min(Math.abs(f32(x)), 448);
  if (a < 2 ** -6) return sign | roundHalfEven(a * 512); // subnormal: m · 2^-9
  const bits = new Uint32Array(new Float32Array([a]).buffer)[0];
  const rounded = bits + 0x7ffff + ((bits >>> 20) & 1);
  return sign | ((rounded >>> 20) - (120 << 3));
}

/** The value of an e4m3 code. */
export function e4m3Decode(code: number): number {
  const e = (code >> 3) & 15, m = code & 7;
  const mag = e === 0 ? m * 2 ** -9 : (8 + m) * 2 ** (e - 10);
  return code & 0x80 ? -mag : mag;
}

/** The f16 block of K and V (values are rounded to f16). */
export function packF16Block(values: KvBlockValues, layout: KvLayout): Uint32Array<ArrayBuffer> {
  const n = layout.numKvHeads * layout.blockSize * layout.headDim;
  const words = new Uint32Array(n);
  [values.k, values.v].forEach((x, s) => {
    for (let i = 0; i < n; i += 2) {
      words[s * (n / 2) + i / 2] = f16Bits(x[i]) | (f16Bits(x[i + 1]) << 16);
    }
  });
  return words;
}

/** K and V of an f16 block. */
export function unpackF16Block(words: Uint32Array, layout: KvLayout): KvBlockValues {
  const n = layout.numKvHeads * layout.blockSize * layout.headDim;
  const half = (i: number) => f16Value((words[i >> 1] >>> ((i & 1) * 16)) & 0xffff);
  return {
    k: Float32Array.from({ length: n }, (_, i) => half(i)),
    v: Float32Array.from({ length: n }, (_, i) => half(n + i)),
  };
}

/** Index into [H][B][D]. */
function at(layout: KvLayout, h: number, t: number, d: number): number {
  return (h * layout.blockSize + t) * layout.headDim + d;
}

function writeBits(words: Uint32Array, base: number, index: number, bits: number, code: number) {
  const pos = index * bits, w = base + (pos >>> 5), s = pos & 31;
  words[w] |= code << s;
  if (s + bits > 32) words[w + 1] |= code >>> (32 - s);
}

/** (scale, min) of asymmetric b-bit codes over xs, as f16 bits; codes via intCode(). */
export function intParams(xs: readonly number[], bits: number): { scale: number; min: number } {
  let lo = Infinity, hi = -Infinity;
  for (const x of xs) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  if (xs.length === 0) return { scale: 0, min: 0 };
  // inputs come from f16, so the minimum is exact in f16; the scale is rounded up so that
  // min + (2^b − 1)·scale still reaches the maximum
  return { scale: f16BitsUp(f32(f32(hi - lo) / ((1 << bits) - 1))), min: f16Bits(lo) };
}

/** The b-bit code of x in a group of (scale, min) f16 bits. */
export function intCode(x: number, bits: number, scaleBits: number, minBits: number): number {
  const scale = f16Value(scaleBits), min = f16Value(minBits);
  if (scale === 0) return 0;
  const q = Math.floor(f32(f32(f32(x - min) / scale) + 0.5));
  return Math.min(Math.max(q, 0), (1 << bits) - 1);
}

/** Encodes the first `tokens` tokens of a block (the others get code 0 and no say in scales). */
export function encodeBlock(
  dtype: KvDtype,
  layout: KvLayout,
  values: KvBlockValues,
  tokens: number = layout.blockSize,
): Uint32Array<ArrayBuffer> {
  const sec = dtype.sections(layout);
  const words = new Uint32Array(sec.words);
  const f16 = unpackF16Block(packF16Block(values, layout), layout);
  if (dtype.kind === "f16") {
    words.set(packF16Block(f16, layout));
  } else if (dtype.kind === "fp8") {
    encodeFp8(words, sec, layout, f16, tokens);
  } else if (dtype.kind === "int") {
    encodeInt(words, sec, dtype, layout, f16, tokens);
  } else if (dtype.kind === "sym" || dtype.kind === "zp") {
    encodeScaled(words, sec, dtype, layout, f16, tokens);
  } else {
    encodeVec(words, sec, dtype, layout, f16, tokens);
  }
  return words;
}

function encodeFp8(
  words: Uint32Array,
  sec: ReturnType<typeof kvSections>,
  layout: KvLayout,
  f16: KvBlockValues,
  tokens: number,
) {
  const { numKvHeads: hh, headDim: dd } = layout;
  [f16.k, f16.v].forEach((x, s) => {
    const base = s === 0 ? sec.kCodes : sec.vCodes;
    for (let h = 0; h < hh; h++) {
      let amax = 0;
      for (let t = 0; t < tokens; t++) {
        for (let d = 0; d < dd; d++) amax = Math.max(amax, Math.abs(x[at(layout, h, t, d)]));
      }
      const scaleBits = f16BitsUp(f32(amax / 448));
      words[sec.kParams + h] |= scaleBits << (16 * s);
      const scale = f16Value(scaleBits);
      for (let t = 0; t < tokens; t++) {
        for (let d = 0; d < dd; d++) {
          const i = at(layout, h, t, d);
          const code = scale === 0 ? 0 : e4m3Encode(f32(x[i] / scale));
          words[base + (i >> 2)] |= code << (8 * (i & 3));
        }
      }
    }
  });
}

/** Writes one group's (scale, min) word and its elements' codes. */
function encodeGroup(
  words: Uint32Array,
  paramWord: number,
  codeBase: number,
  bits: number,
  xs: readonly number[],
  codeIndices: readonly number[],
) {
  const p = intParams(xs, bits);
  words[paramWord] = p.scale | (p.min << 16);
  xs.forEach((x, j) => {
    writeBits(words, codeBase, codeIndices[j], bits, intCode(x, bits, p.scale, p.min));
  });
}

function encodeInt(
  words: Uint32Array,
  sec: ReturnType<typeof kvSections>,
  dtype: KvDtype,
  layout: KvLayout,
  f16: KvBlockValues,
  tokens: number,
) {
  const { numKvHeads: hh, headDim: dd } = layout;
  const bits = dtype.bits;
  const g = vGroupSize(dd);
  // K: per (head, channel) across tokens
  for (let h = 0; h < hh; h++) {
    for (let d = 0; d < dd; d++) {
      const ts = Array.from({ length: tokens }, (_, t) => t);
      encodeGroup(
        words,
        sec.kParams + h * dd + d,
        sec.kCodes,
        bits,
        ts.map((t) => f16.k[at(layout, h, t, d)]),
        ts.map((t) => kvCodeIndex(dtype, layout, true, h, t, d)),
      );
    }
  }
  // V: per (head, token) across groups of channels
  const groups = Math.ceil(dd / g);
  for (let h = 0; h < hh; h++) {
    for (let t = 0; t < tokens; t++) {
      for (let d0 = 0; d0 < dd; d0 += g) {
        const ds = Array.from({ length: Math.min(g, dd - d0) }, (_, j) => d0 + j);
        encodeGroup(
          words,
          sec.vParams + (h * layout.blockSize + t) * groups + d0 / g,
          sec.vCodes,
          bits,
          ds.map((d) => f16.v[at(layout, h, t, d)]),
          ds.map((d) => kvCodeIndex(dtype, layout, false, h, t, d)),
        );
      }
    }
  }
}

function encodeVec(
  words: Uint32Array,
  sec: ReturnType<typeof kvSections>,
  dtype: KvDtype,
  layout: KvLayout,
  f16: KvBlockValues,
  tokens: number,
) {
  const { numKvHeads: hh, blockSize: b, headDim: dd } = layout;
  const ds = Array.from({ length: dd }, (_, d) => d);
  for (
    const [isK, x, params, codes] of [
      [true, f16.k, sec.kParams, sec.kCodes],
      [false, f16.v, sec.vParams, sec.vCodes],
    ] as const
  ) {
    for (let h = 0; h < hh; h++) {
      for (let t = 0; t < tokens; t++) {
        encodeGroup(
          words,
          params + h * b + t,
          codes,
          isK ? dtype.bits : dtype.vBits,
          ds.map((d) => x[at(layout, h, t, d)]),
          ds.map((d) => kvCodeIndex(dtype, layout, isK, h, t, d)),
        );
      }
    }
  }
}

/**
 * The b-bit code of x at a scale (f16 bits) around a zero point: the nearest level
 * (code − point)·scale. sym's point is (2^b − 1)/2, zp's an integer stored per vector.
 */
export function pointCode(x: number, bits: number, scaleBits: number, point: number): number {
  const scale = f16Value(scaleBits);
  if (scale === 0) return 0;
  const q = Math.floor(f32(f32(x / scale) + (point + 0.5)));
  return Math.min(Math.max(q, 0), (1 << bits) - 1);
}

/** A head vector's f16 scale bits and zero point: sym around 0, zp over a range holding 0. */
function vectorScale(kind: "sym" | "zp", bits: number, xs: Float32Array) {
  const top = (1 << bits) - 1;
  if (kind === "sym") {
    const amax = xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    // rounded up, so the largest magnitude stays within top/2 levels of 0
    return { scaleBits: f16BitsUp(f32(amax / (top / 2))), point: top / 2 };
  }
  // the range holds 0, so the zero point is a level of the grid
  const lo = xs.reduce((m, x) => Math.min(m, x), 0);
  const hi = xs.reduce((m, x) => Math.max(m, x), 0);
  const scaleBits = f16BitsUp(f32(f32(hi - lo) / top));
  const scale = f16Value(scaleBits);
  const point = scale === 0
    ? 0
    : Math.min(Math.max(Math.floor(f32(f32(-lo / scale) + 0.5)), 0), top);
  return { scaleBits, point };
}

/** sym and zp: one (K scale, V scale) word per head vector pair, zp's zero points after them. */
function encodeScaled(
  words: Uint32Array,
  sec: ReturnType<typeof kvSections>,
  dtype: KvDtype,
  layout: KvLayout,
  f16: KvBlockValues,
  tokens: number,
) {
  const { numKvHeads: hh, blockSize: b, headDim: dd } = layout;
  const kind = dtype.kind as "sym" | "zp";
  for (let h = 0; h < hh; h++) {
    for (let t = 0; t < tokens; t++) {
      const row = h * b + t;
      [f16.k, f16.v].forEach((x, s) => {
        const at0 = at(layout, h, t, 0);
        const { scaleBits, point } = vectorScale(kind, dtype.bits, x.subarray(at0, at0 + dd));
        words[sec.kParams + row] |= scaleBits << (16 * s);
        if (kind === "zp") {
          words[sec.kParams + hh * b + (row >> 2)] |= point << (8 * (row & 3) + 4 * s);
        }
        for (let d = 0; d < dd; d++) {
          const code = pointCode(x[at0 + d], dtype.bits, scaleBits, point);
          writeBits(words, s === 0 ? sec.kCodes : sec.vCodes, at0 + d, dtype.bits, code);
        }
      });
    }
  }
}

/** Decodes one element of a block (isK: the K section). */
export const decodeElement: typeof decodeKvElement = decodeKvElement;

/** The (scale, min) values of an element's group (fp8: the head's scale and 0). */
export const elementParams: typeof kvElementParams = kvElementParams;

/** Decodes a whole block. */
export function decodeBlock(dtype: KvDtype, layout: KvLayout, words: Uint32Array): KvBlockValues {
  return decodeKvBlock(dtype, layout, words);
}
