/**
 * Decoding a packed KV block on the CPU, element for element as kernels/kv_decode.wgsl reads it
 * in attention (layouts in layout.ts). Calibration reads blocks back after the GPU seal and
 * decodes them here, so it measures what the served attention sees.
 * @module
 */
import type { KvDtype } from "./dtype.ts";
import { type KvLayout, type KvSections, vGroupSize, vGroupsPerToken } from "./layout.ts";

/** K and V of one block, each [numKvHeads][blockSize][headDim]. */
export interface DecodedKvBlock {
  k: Float32Array;
  v: Float32Array;
}

const f32 = Math.fround;
const HALF = new Float16Array(1);
const HALF_BITS = new Uint16Array(HALF.buffer);

/** The value of f16 bits. */
export function halfValue(bits: number): number {
  HALF_BITS[0] = bits;
  return HALF[0];
}

/** The value of an OCP e4m3 code (bias 7, no infinities), as kv_e4m3_decode computes it. */
export function e4m3Value(code: number): number {
  const e = (code >> 3) & 15, m = code & 7;
  const mag = e === 0 ? m * 2 ** -9 : (8 + m) * 2 ** (e - 10);
  return code & 0x80 ? -mag : mag;
}

/** Decodes every element of the block `words` of `dtype`. */
export function decodeKvBlock(
  dtype: KvDtype,
  layout: KvLayout,
  words: Uint32Array,
): DecodedKvBlock {
  const { numKvHeads: h, blockSize: b, headDim: d } = layout;
  const n = h * b * d;
  const sec = dtype.sections(layout);
  if (words.length < sec.words) {
    throw new RangeError(`A ${dtype.name} block needs ${sec.words} words, got ${words.length}`);
  }
  const out = { k: new Float32Array(n), v: new Float32Array(n) };
  for (let head = 0; head < h; head++) {
    for (let t = 0; t < b; t++) {
      for (let c = 0; c < d; c++) {
        const i = (head * b + t) * d + c;
        out.k[i] = element(dtype, layout, sec, words, true, head, t, c);
        out.v[i] = element(dtype, layout, sec, words, false, head, t, c);
      }
    }
  }
  return out;
}

/**
 * The (scale, min) of the group holding element (h, t, d) of `words` (fp8: the head's scale and
 * 0; f16: 1 and 0).
 */
export function kvElementParams(
  dtype: KvDtype,
  layout: KvLayout,
  words: Uint32Array,
  isK: boolean,
  h: number,
  t: number,
  d: number,
): { scale: number; min: number } {
  const sec = dtype.sections(layout);
  if (dtype.kind === "f16") return { scale: 1, min: 0 };
  if (dtype.kind === "fp8") {
    return { scale: halfValue((words[sec.kParams + h] >>> (isK ? 0 : 16)) & 0xffff), min: 0 };
  }
  const w = words[(isK ? sec.kParams : sec.vParams) + paramIndex(dtype, layout, isK, h, t, d)];
  if (dtype.kind === "sym" || dtype.kind === "zp") {
    const scale = halfValue(isK ? w & 0xffff : w >>> 16);
    const point = dtype.kind === "sym"
      ? symHalf(dtype.bits)
      : zeroPoint(layout, sec, words, isK, h, t);
    return { scale, min: -point * scale };
  }
  return { scale: halfValue(w & 0xffff), min: halfValue(w >>> 16) };
}

/** Decodes element (h, t, d) of the K (`isK`) or V section of the block `words` of `dtype`. */
export function decodeKvElement(
  dtype: KvDtype,
  layout: KvLayout,
  words: Uint32Array,
  isK: boolean,
  h: number,
  t: number,
  d: number,
): number {
  return element(dtype, layout, dtype.sections(layout), words, isK, h, t, d);
}

/** Word of an element's (scale, min) pair from the start of its params section (int, vec). */
function paramIndex(
  dtype: KvDtype,
  layout: KvLayout,
  isK: boolean,
  h: number,
  t: number,
  d: number,
): number {
  const { blockSize: b, headDim } = layout;
  if (dtype.kind === "vec" || dtype.kind === "sym" || dtype.kind === "zp") return h * b + t;
  return isK
    ? h * headDim + d
    : (h * b + t) * vGroupsPerToken(headDim) + Math.floor(d / vGroupSize(headDim));
}

/** Where an element's code sits in its section's bitstream (int, vec). */
export function kvCodeIndex(
  dtype: KvDtype,
  layout: KvLayout,
  isK: boolean,
  h: number,
  t: number,
  d: number,
): number {
  const { blockSize: b, headDim } = layout;
  return isK && dtype.kind === "int" ? (h * headDim + d) * b + t : (h * b + t) * headDim + d;
}

function element(
  dtype: KvDtype,
  layout: KvLayout,
  sec: KvSections,
  words: Uint32Array,
  isK: boolean,
  h: number,
  t: number,
  d: number,
): number {
  const { numKvHeads, blockSize: b, headDim } = layout;
  const i = (h * b + t) * headDim + d;
  if (dtype.kind === "f16") {
    const at = (isK ? 0 : numKvHeads * b * headDim) + i;
    return halfValue((words[at >> 1] >>> ((at & 1) * 16)) & 0xffff);
  }
  if (dtype.kind === "fp8") {
    const code = (words[(isK ? sec.kCodes : sec.vCodes) + (i >> 2)] >>> (8 * (i & 3))) & 0xff;
    const scale = halfValue((words[sec.kParams + h] >>> (isK ? 0 : 16)) & 0xffff);
    return f32(e4m3Value(code) * scale);
  }
  if (dtype.kind === "sym" || dtype.kind === "zp") {
    const w = words[sec.kParams + h * b + t];
    const q = readBits(words, isK ? sec.kCodes : sec.vCodes, i, dtype.bits);
    const point = dtype.kind === "sym"
      ? symHalf(dtype.bits)
      : zeroPoint(layout, sec, words, isK, h, t);
    // exact in f32: a half-integer of ≤ 8 bits times an f16
    return (q - point) * halfValue(isK ? w & 0xffff : w >>> 16);
  }
  // int: per-channel K groups of the block's tokens, per-token V groups of vGroupSize channels;
  // vec: one group per head vector, K and V alike (V codes `vBits` wide)
  const param = words[(isK ? sec.kParams : sec.vParams) + paramIndex(dtype, layout, isK, h, t, d)];
  const codeIndex = kvCodeIndex(dtype, layout, isK, h, t, d);
  const q = readBits(
    words,
    isK ? sec.kCodes : sec.vCodes,
    codeIndex,
    isK ? dtype.bits : dtype.vBits,
  );
  return f32(f32(q * halfValue(param & 0xffff)) + halfValue(param >>> 16));
}

/** The zero point of head vector (h, t) of a zp block: a nibble of its (K, V) byte. */
function zeroPoint(
  layout: KvLayout,
  sec: KvSections,
  words: Uint32Array,
  isK: boolean,
  h: number,
  t: number,
): number {
  const row = h * layout.blockSize + t;
  const byte = (words[sec.kParams + layout.numKvHeads * layout.blockSize + (row >> 2)] >>>
    (8 * (row & 3))) & 0xff;
  return isK ? byte & 15 : byte >>> 4;
}

/** The offset of the sym family's codes: element = (code − symHalf(bits)) · scale. */
export function symHalf(bits: number): number {
  return ((1 << bits) - 1) / 2;
}

/** Reads code `index` of a `bits`-wide little-endian bitstream at word `base`; codes may straddle words. */
function readBits(words: Uint32Array, base: number, index: number, bits: number): number {
  const pos = index * bits, w = base + (pos >>> 5), s = pos & 31;
  let v = words[w] >>> s;
  if (s + bits > 32) v |= words[w + 1] << (32 - s);
  return v & ((1 << bits) - 1);
}
