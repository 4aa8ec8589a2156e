/**
 * The one registry of KV-cache dtypes. Each entry names its bits, aliases and codec family; the
 * family fixes the block layout (layout.ts), the seal branch (kernels/kv_seal.wgsl), the decode
 * branch (kernels/kv_decode.wgsl) and the oracle (tests/reference/kv_codec.ts). A dtype's id is
 * its family code · 16 + its (K) bits, so a new width of a family is one line here.
 *
 * Families: `int` (KIVI: keys per channel over the block's tokens, values per token in groups
 * of 32 channels, an f16 scale and minimum per group) and `vec` (one f16 scale and minimum per
 * head vector, keys and values alike). Both are asymmetric (min/max), which centres the keys'
 * per-channel offsets (the q/k/v biases) without a codebook. `sym` is vec without the minimum:
 * one f16 scale per head vector, levels symmetric about 0, half of vec's scale bytes (4.50 bits
 * per element at head_dim 32 for sym4 against int4's 5.00); it relies on the rotation making a
 * vector's channels near-symmetric about 0. `zp` keeps vec's asymmetry at 12 bits less per
 * vector: an f16 scale and a 4-bit integer zero point (AWQ's and GPTQ's asymmetric form): zp4
 * stores 4.63 bits per element at head_dim 32 with an attention KL of 7.57e-3 on the default
 * model, against int4's 7.32e-3 at 5.00.
 *
 * `vec` also stores V one bit narrower than K (`k4v3`, `k3v2`): keys set where attention looks
 * and carry the outlier structure, values are averaged by it (KIVI, KVQuant find keys the more
 * sensitive). Such a dtype takes family code 4 (KV_FAMILY_VEC_NARROW_V), so its id is
 * 4 · 16 + its K bits: every existing id stays, ids stay unique, and a kernel that receives only
 * the id (kernels/kv_demote.wgsl, the attention kernel's per-id branches) recovers both widths
 * from it. A free pair of widths would need a second nibble and renumber every id; one bit is
 * the split worth measuring.
 * On the default model k4v3 keeps int4's attention KL (7.32e-3: the keys alone set it) at 4.50
 * bits per element against 5.00, and its output error rises from 0.0725 to 0.1261 (int3 at
 * 4.00 bits: 0.1595).
 *
 * Which family serves each public name, from `deno task bench:kv` (reports/bench/kv.md, block 16):
 * - `int4`, `int3`, `int2` are `vec`: the only family within 0.5 bit of its width at head_dim
 *   128 (4.25, 3.25 and 2.25 bits against KIVI's 5.50, 4.50 and 3.50; at head_dim 32 it pays
 *   1 bit: 5.00, 4.00, 3.00). On the default model's own q/k/v, rotated as its engine keeps them,
 *   int4 gives an attention KL of 7.32e-3 at 5.00 bits, between kivi3 (1.41e-2 at 4.50) and
 *   kivi4 (3.08e-3 at 5.50); at head_dim 128 the same bits buy KIVI a width less.
 * - `int8` stays KIVI (1.09e-5 against rot8's 2.51e-5 on the default model); `rot8` stores 8.25
 *   bits per element at head_dim 128 against int8's 9.50, for who wants them.
 * - The engine keeps K and V rotated (src/kv/rotation.ts) when head_dim is a power of two of at
 *   least 32: there the rotation lowers every dtype's KL (fp8 2.02e-3 to 1.11e-3, kivi4 5.25e-3
 *   to 3.08e-3, int4 9.00e-3 to 7.32e-3); at head_dim 8 (stories260k) it raises KIVI's and
 *   fp8's (kivi4 5.64e-3 to 1.34e-2).
 * @module
 */
import { type KvCodecKind, type KvLayout, type KvSections, kvSections } from "./layout.ts";

/** A KV-cache dtype. */
export interface KvDtype {
  /** Canonical name (what block tables and profiles store). */
  readonly name: string;
  /** Tag the attention and seal kernels switch on: family code · 16 + bits (f16 is 0). */
  readonly id: number;
  /** Bits of one K element's code, scales excluded (and of a V element's, but for `vBits`). */
  readonly bits: number;
  /** Bits of one V element's code: `bits`, or one fewer for the narrow-V vec dtypes. */
  readonly vBits: number;
  /** Mean code bits of a K and a V element: what orders dtypes by width (a demotion lowers it). */
  readonly meanBits: number;
  /** Codec family, which fixes the block layout (layout.ts). */
  readonly kind: KvCodecKind;
  /** Other accepted names (case-insensitive). */
  readonly aliases: readonly string[];
  /**
   * Whether the family is meant for K and V rotated by the engine's randomized Hadamard
   * transform (KV_ROTATION); the runner rotates every block of the engine, f16 included.
   */
  readonly rotated: boolean;
  /**
   * Names of the WGSL functions decoding a K and a V element (kernels/kv_decode.wgsl for every
   * quantized dtype) and a lane's channels of a token for attention (kernels/kv_lanes.wgsl,
   * called as `lanes(word_off, is_v, kvh, t, d0, kbits, vbits)`, with `lanes_block` and
   * `lanes_chunk` beside it).
   */
  readonly wgsl: { readonly k: string; readonly v: string; readonly lanes: string };
  /** Bytes of one block in one layer's pool, every scale byte included, 16-byte aligned. */
  blockBytes(layout: KvLayout): number;
  /** Where each part of one block lives (layout.ts). */
  sections(layout: KvLayout): KvSections;
}

/** The name that means "the engine's base dtype"; the phase policy resolves it. */
export const KV_DTYPE_AUTO = "auto";

/**
 * Family codes as kernels/kv_decode.wgsl and kernels/kv_seal.wgsl switch on them (a dtype's id
 * is its family code · 16 + its bits, so a new width of a family needs no WGSL change).
 */
export const KV_FAMILY_CODES: Readonly<Record<Exclude<KvCodecKind, "f16">, number>> = {
  fp8: 1,
  int: 2,
  vec: 3,
  sym: 5,
  zp: 6,
};

/** Family code of the vec dtypes whose V codes are one bit narrower than their K codes. */
export const KV_FAMILY_VEC_NARROW_V = 4;

/** The family code of a dtype's id (KV_FAMILY_CODES, or the narrow-V vec code). */
export function kvFamilyCode(
  kind: Exclude<KvCodecKind, "f16">,
  bits: number,
  vBits: number,
): number {
  if (vBits === bits) return KV_FAMILY_CODES[kind];
  if (kind === "vec" && vBits === bits - 1) return KV_FAMILY_VEC_NARROW_V;
  throw new RangeError(`A ${kind} dtype of ${bits}-bit K cannot store ${vBits}-bit V`);
}

/**
 * The rotation of the rotated families: x ↦ H·(s ⊙ x)/√D per head vector, H the Walsh-Hadamard
 * matrix and s a ±1 vector drawn from `seed` (tests/reference/hadamard.ts is its oracle).
 */
export const KV_ROTATION: { readonly seed: number } = { seed: 0x2545f491 };

function entry(
  name: string,
  kind: KvCodecKind,
  bits: number,
  aliases: readonly string[],
  vBits: number = bits,
): KvDtype {
  const wgsl = kind === "f16"
    ? { k: "kv_f16", v: "kv_f16", lanes: "kv_f16_pair" } // kernels/kv_load.wgsl
    : { k: `kv_${kind}_k`, v: `kv_${kind}_v`, lanes: `kv_${kind}_lanes` };
  return {
    name,
    id: kind === "f16" ? 0 : kvFamilyCode(kind, bits, vBits) * 16 + bits,
    bits,
    vBits,
    meanBits: (bits + vBits) / 2,
    kind,
    aliases,
    rotated: kind === "vec" || kind === "sym" || kind === "zp",
    wgsl,
    blockBytes: (layout) => kvSections(kind, bits, layout, vBits).words * 4,
    sections: (layout) => kvSections(kind, bits, layout, vBits),
  };
}

/** Every dtype. */
export const KV_DTYPES: readonly KvDtype[] = [
  entry("f16", "f16", 16, ["fp16", "float16", "half"]),
  entry("fp8", "fp8", 8, ["fp8_e4m3", "e4m3", "float8_e4m3fn"]),
  entry("int8", "int", 8, ["i8", "q8", "uint8", "kivi8"]),
  entry("int4", "vec", 4, ["i4", "q4", "rot4"]),
  entry("int3", "vec", 3, ["i3", "q3", "rot3"]),
  entry("int2", "vec", 2, ["i2", "q2", "rot2"]),
  entry("rot8", "vec", 8, []),
  entry("k4v3", "vec", 4, [], 3),
  entry("k3v2", "vec", 3, [], 2),
  entry("sym4", "sym", 4, []),
  entry("sym3", "sym", 3, []),
  entry("zp4", "zp", 4, []),
  entry("zp3", "zp", 3, []),
  entry("kivi4", "int", 4, []),
  entry("kivi3", "int", 3, []),
  entry("kivi2", "int", 2, []),
];

const BY_NAME: ReadonlyMap<string, KvDtype> = new Map(
  KV_DTYPES.flatMap((d) => [d.name, ...d.aliases].map((n) => [n, d] as const)),
);

/** A KV dtype name that is neither a registry name nor an alias. */
export class UnknownKvDtypeError extends RangeError {
  /** Creates the error listing every valid name. */
  constructor(readonly dtype: string) {
    super(`Unknown KV cache dtype "${dtype}"; valid names: ${validKvDtypeNames().join(", ")}`);
    this.name = "UnknownKvDtypeError";
  }
}

/** Every accepted name: canonical names with their aliases in parentheses, then `auto`. */
export function validKvDtypeNames(): string[] {
  return [
    ...KV_DTYPES.map((d) => d.aliases.length ? `${d.name} (${d.aliases.join(", ")})` : d.name),
    `${KV_DTYPE_AUTO} (the base dtype)`,
  ];
}

/** The registry entry of a name or alias (case-insensitive); `auto` is the policy's to resolve. */
export function kvDtype(name: string): KvDtype {
  const found = BY_NAME.get(name.trim().toLowerCase());
  if (!found) throw new UnknownKvDtypeError(name);
  return found;
}

/** The registry entry of a kernel tag. */
export function kvDtypeById(id: number): KvDtype {
  const found = KV_DTYPES.find((d) => d.id === id);
  if (!found) throw new RangeError(`No KV dtype has id ${id}`);
  return found;
}

/** Effective bits per K or V element of a block, every scale bit and pad included. */
export function bitsPerElement(dtype: KvDtype | string, layout: KvLayout): number {
  const d = typeof dtype === "string" ? kvDtype(dtype) : dtype;
  const elems = 2 * layout.numKvHeads * layout.blockSize * layout.headDim;
  return (d.blockBytes(layout) * 8) / elems;
}
