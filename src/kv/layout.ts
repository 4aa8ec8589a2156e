/**
 * Where each part of a KV block lives, in u32 words from the block's start, for every dtype
 * family. kernels/kv_decode.wgsl computes the same offsets (kv_*_sections); change both.
 *
 * Layouts (H = numKvHeads, B = blockSize, D = headDim, G = min(V_GROUP, D)):
 * - f16:  K [H][B][D] then V [H][B][D], halves packed two per u32 (element 2i in the low 16 bits).
 * - int b (asymmetric): K codes, V codes, K params, V params.
 *   K codes: one little-endian bitstream of b-bit codes, element (h, t, d) at code index
 *   (h·D + d)·B + t (per-channel groups of B tokens are contiguous); padded to a u32.
 *   V codes: same, element (h, t, d) at code index (h·B + t)·D + d; padded to a u32.
 *   Codes of 3 bits straddle words; decoders read two words when they do.
 *   K params: one u32 per (h, d): f16 scale (low half) and f16 minimum (high half).
 *   V params: one u32 per (h, t, channel group of G): scale (low) and minimum (high).
 * - fp8 (OCP e4m3): K codes [H][B][D] bytes then V codes [H][B][D] bytes, four per u32
 *   (element 4i in the low byte); then one u32 per head: K scale (low half) and V scale (high).
 * - vec b (asymmetric, one group per head vector): K codes, V codes, K params, V params.
 *   K and V codes: one little-endian bitstream each, element (h, t, d) at code index
 *   (h·B + t)·D + d (a vector's codes are contiguous); padded to a u32. K codes have b bits,
 *   V codes b or (the `kXvY` dtypes) fewer bits: the V section starts after ⌈H·B·D·b / 32⌉
 *   words and the K params after the V codes' own ⌈H·B·D·vBits / 32⌉.
 *   K params, V params: one u32 per (h, t): f16 scale (low half) and f16 minimum (high half).
 *   Scales cost 32 / D bits per element: 0.25 at head_dim 128, 0.5 at 64.
 * - sym b (symmetric, one group per head vector): K codes, V codes as in vec, then one u32 per
 *   (h, t): the K vector's f16 scale (low half) and the V vector's (high half). Element =
 *   (code − (2^b − 1)/2) · scale, levels symmetric about 0 (no minimum stored): K and V are
 *   rotated, so a vector's channels are near-symmetric about 0 and the minimum buys little.
 *   Scales cost 16 / D bits per element: 0.5 at head_dim 32, 0.125 at 128.
 * - zp b (b ≤ 4; asymmetric with an integer zero point, one group per head vector): K codes, V
 *   codes and scale words as in sym, then one byte per (h, t), four to a u32 (row h·B + t in
 *   byte (h·B + t) % 4): the K vector's zero point z in the low nibble, the V vector's in the
 *   high one. Element = (code − z) · scale. The range [−z·scale, (2^b − 1 − z)·scale] always
 *   holds 0, and z is rounded to the nearest level, so it costs vec's minimum 12 bits less:
 *   20 / D bits per element, 0.625 at head_dim 32, 0.156 at 128.
 * Every block is padded to 16 bytes.
 * @module
 */

/** The shape of one block of one layer. */
export interface KvLayout {
  /** KV heads of one layer. */
  numKvHeads: number;
  /** Tokens per block. */
  blockSize: number;
  /** Channels per head. */
  headDim: number;
}

/** How a dtype stores its elements. */
export type KvCodecKind = "f16" | "fp8" | "int" | "vec" | "sym" | "zp";

/** Word offsets of a block's parts and its size in words (16-byte aligned). */
export interface KvSections {
  /** First word of the K codes (always 0). */
  kCodes: number;
  /** First word of the V codes. */
  vCodes: number;
  /** First word of the K scales (fp8: of the per-head K and V scales). */
  kParams: number;
  /** First word of the V scales (fp8: same as kParams). */
  vParams: number;
  /** Words that hold data (codes and scales), before the pad. */
  dataWords: number;
  /** Groups sharing one scale (kernels/kv_seal.wgsl's seal_params runs one invocation each). */
  paramGroups: number;
  /** Words of the block, padded to 16 bytes. */
  words: number;
}

/**
 * Channels per value group. 32 matches the int4/int8 groups of llama.cpp's q4_0/q8_0 and the
 * prototype in research/webgpu.md §2.4; values have no outlier channels, so wider groups
 * mainly save scale bytes.
 */
export const V_GROUP = 32;

/** Channels per value group for a head dimension. */
export function vGroupSize(headDim: number): number {
  return Math.min(V_GROUP, headDim);
}

/** Value groups per (head, token). */
export function vGroupsPerToken(headDim: number): number {
  return Math.ceil(headDim / vGroupSize(headDim));
}

/**
 * The sections of a block of `kind` with `bits` per K element and `vBits` per V element (only
 * the vec family stores V narrower than K).
 */
export function kvSections(
  kind: KvCodecKind,
  bits: number,
  layout: KvLayout,
  vBits: number = bits,
): KvSections {
  const { numKvHeads: h, blockSize: b, headDim: d } = layout;
  const elems = h * b * d;
  let vCodes: number, kParams: number, vParams: number, end: number;
  if (vBits !== bits && kind !== "vec") {
    throw new RangeError(`Only the vec family stores V at other bits than K, not ${kind}`);
  }
  if (kind === "f16") {
    vCodes = elems / 2;
    kParams = vParams = end = elems;
  } else if (kind === "fp8") {
    vCodes = Math.ceil(elems / 4);
    kParams = vParams = 2 * vCodes;
    end = kParams + h;
  } else if (kind === "int") {
    vCodes = Math.ceil((elems * bits) / 32);
    kParams = 2 * vCodes;
    vParams = kParams + h * d;
    end = vParams + h * b * vGroupsPerToken(d);
  } else if (kind === "sym") {
    vCodes = Math.ceil((elems * bits) / 32);
    kParams = vParams = 2 * vCodes;
    end = kParams + h * b;
  } else if (kind === "zp") {
    if (bits > 4) throw new RangeError(`A zp dtype stores zero points in 4 bits, not ${bits}`);
    vCodes = Math.ceil((elems * bits) / 32);
    kParams = vParams = 2 * vCodes;
    end = kParams + h * b + Math.ceil((h * b) / 4);
  } else {
    vCodes = Math.ceil((elems * bits) / 32);
    kParams = vCodes + Math.ceil((elems * vBits) / 32);
    vParams = kParams + h * b;
    end = vParams + h * b;
  }
  // fp8 has one scale word per head; int and vec one (scale, min) word per group; sym one
  // (K scale, V scale) word per head vector pair; zp one invocation per zero-point word (four
  // head vector pairs), as their bytes share it
  const paramGroups = kind === "f16"
    ? 0
    : kind === "fp8"
    ? h
    : kind === "zp"
    ? Math.ceil((h * b) / 4)
    : end - kParams;
  return {
    kCodes: 0,
    vCodes,
    kParams,
    vParams,
    dataWords: end,
    paramGroups,
    words: Math.ceil(end / 4) * 4,
  };
}

/** Checks a layout's fields are positive integers (an f16 block needs an even element count). */
export function checkLayout(layout: KvLayout): void {
  for (const [key, value] of Object.entries(layout)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`KV layout ${key} must be a positive integer, got ${value}`);
    }
  }
  if ((layout.numKvHeads * layout.blockSize * layout.headDim) % 2 !== 0) {
    throw new RangeError("KV layout must hold an even number of elements per block");
  }
}
