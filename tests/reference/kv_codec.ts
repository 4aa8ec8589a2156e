/**
 * Plain-TypeScript oracle of the KV block codecs (layouts in src/kv/layout.ts). It mirrors the
 * f32 arithmetic of kernels/kv_seal.wgsl step by step (Math.fround after every operation), so
 * the GPU seal is expected to produce identical codes and scales.
 * @module
 */
import type { KvDtype } from "../../src/kv/dtype.ts";
import { type KvLayout, kvSections, vGroupSize, vGroupsPerToken } from "../../src/kv/layout.ts";

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

/** Where the code of an element of an int block sits in its section's bitstream. */
function intCodeIndex(layout: KvLayout, isK: boolean, h: number, t: number, d: number): number {
  const { blockSize: b, headDim: dd } = layout;
  return isK ? (h * dd + d) * b + t : (h * b + t) * dd + d;
}

/** Word of the (scale, min) pair of an element's group, from the start of its params section. */
function intParamIndex(layout: KvLayout, isK: boolean, h: number, t: number, d: number): number {
  return isK
    ? h * layout.headDim + d
    : (h * layout.blockSize + t) * vGroupsPerToken(layout.headDim) +
      Math.floor(d / vGroupSize(layout.headDim));
}

function writeBits(words: Uint32Array, base: number, index: number, bits: number, code: number) {
  const pos = index * bits, w = base + (pos >>> 5), s = pos & 31;
  words[w] |= code << s;
  if (s + bits > 32) words[w + 1] |= code >>> (32 - s);
}

function readBits(words: Uint32Array, base: number, index: number, bits: number): number {
  const pos = index * bits, w = base + (pos >>> 5), s = pos & 31;
  let v = words[w] >>> s;
  if (s + bits > 32) v |= words[w + 1] << (32 - s);
  return v & ((1 << bits) - 1);
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
  const sec = kvSections(dtype.kind, dtype.bits, layout);
  const words = new Uint32Array(sec.words);
  const f16 = unpackF16Block(packF16Block(values, layout), layout);
  if (dtype.kind === "f16") {
    words.set(packF16Block(f16, layout));
  } else if (dtype.kind === "fp8") {
    encodeFp8(words, sec, layout, f16, tokens);
  } else {
    encodeInt(words, sec, layout, f16, tokens, dtype.bits);
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

function encodeInt(
  words: Uint32Array,
  sec: ReturnType<typeof kvSections>,
  layout: KvLayout,
  f16: KvBlockValues,
  tokens: number,
  bits: number,
) {
  const { numKvHeads: hh, headDim: dd } = layout;
  const g = vGroupSize(dd);
  // K: per (head, channel) across tokens
  for (let h = 0; h < hh; h++) {
    for (let d = 0; d < dd; d++) {
      const xs = Array.from({ length: tokens }, (_, t) => f16.k[at(layout, h, t, d)]);
      const p = intParams(xs, bits);
      words[sec.kParams + intParamIndex(layout, true, h, 0, d)] = p.scale | (p.min << 16);
      xs.forEach((x, t) => {
        writeBits(
          words,
          sec.kCodes,
          intCodeIndex(layout, true, h, t, d),
          bits,
          intCode(x, bits, p.scale, p.min),
        );
      });
    }
  }
  // V: per (head, token) across groups of channels
  for (let h = 0; h < hh; h++) {
    for (let t = 0; t < tokens; t++) {
      for (let d0 = 0; d0 < dd; d0 += g) {
        const ds = Array.from({ length: Math.min(g, dd - d0) }, (_, j) => d0 + j);
        const xs = ds.map((d) => f16.v[at(layout, h, t, d)]);
        const p = intParams(xs, bits);
        words[sec.vParams + intParamIndex(layout, false, h, t, d0)] = p.scale | (p.min << 16);
        ds.forEach((d, j) => {
          writeBits(
            words,
            sec.vCodes,
            intCodeIndex(layout, false, h, t, d),
            bits,
            intCode(xs[j], bits, p.scale, p.min),
          );
        });
      }
    }
  }
}

/** Decodes one element of a block (isK: the K section). */
export function decodeElement(
  dtype: KvDtype,
  layout: KvLayout,
  words: Uint32Array,
  isK: boolean,
  h: number,
  t: number,
  d: number,
): number {
  const sec = kvSections(dtype.kind, dtype.bits, layout);
  if (dtype.kind === "f16") {
    const i = (isK ? 0 : layout.numKvHeads * layout.blockSize * layout.headDim) +
      at(layout, h, t, d);
    return f16Value((words[i >> 1] >>> ((i & 1) * 16)) & 0xffff);
  }
  if (dtype.kind === "fp8") {
    const i = at(layout, h, t, d);
    const code = (words[(isK ? sec.kCodes : sec.vCodes) + (i >> 2)] >>> (8 * (i & 3))) & 0xff;
    const scale = f16Value((words[sec.kParams + h] >>> (isK ? 0 : 16)) & 0xffff);
    return f32(e4m3Decode(code) * scale);
  }
  const p = elementParams(dtype, layout, words, isK, h, t, d);
  const q = readBits(
    words,
    isK ? sec.kCodes : sec.vCodes,
    intCodeIndex(layout, isK, h, t, d),
    dtype.bits,
  );
  return f32(f32(q * p.scale) + p.min);
}

/** The (scale, min) values of an element's group (fp8: the head's scale and 0). */
export function elementParams(
  dtype: KvDtype,
  layout: KvLayout,
  words: Uint32Array,
  isK: boolean,
  h: number,
  t: number,
  d: number,
): { scale: number; min: number } {
  const sec = kvSections(dtype.kind, dtype.bits, layout);
  if (dtype.kind === "fp8") {
    return { scale: f16Value((words[sec.kParams + h] >>> (isK ? 0 : 16)) & 0xffff), min: 0 };
  }
  const w = words[(isK ? sec.kParams : sec.vParams) + intParamIndex(layout, isK, h, t, d)];
  return { scale: f16Value(w & 0xffff), min: f16Value(w >>> 16) };
}

/** Decodes a whole block. */
export function decodeBlock(dtype: KvDtype, layout: KvLayout, words: Uint32Array): KvBlockValues {
  const n = layout.numKvHeads * layout.blockSize * layout.headDim;
  const out = { k: new Float32Array(n), v: new Float32Array(n) };
  for (let h = 0; h < layout.numKvHeads; h++) {
    for (let t = 0; t < layout.blockSize; t++) {
      for (let d = 0; d < layout.headDim; d++) {
        out.k[at(layout, h, t, d)] = decodeElement(dtype, layout, words, true, h, t, d);
        out.v[at(layout, h, t, d)] = decodeElement(dtype, layout, words, false, h, t, d);
      }
    }
  }
  return out;
}
