/**
 * The one registry of KV-cache dtypes. Each entry names its bits, aliases, bytes per block
 * (scales included) and the WGSL functions in kernels/kv_decode.wgsl that decode it. Adding a
 * dtype is one entry here, one layout in layout.ts if its family is new, and its WGSL branch.
 *
 * No dtype rotates K or V (Hadamard) before quantizing. Keys are grouped per channel, which
 * already isolates outlier channels; a rotation spreads the outliers over every channel and
 * hurts. Measured by bench/kv_codec.ts (512 tokens, head_dim 128, keys with outlier channels,
 * block 16; attention KL plain → rotated): fp8 5.6e-3 → 4.4e-3, int8 3.9e-5 → 6.0e-5,
 * int4 1.2e-2 → 2.1e-2, int3 5.6e-2 → 8.5e-2, int2 0.46 → 0.42 (output error 0.75 → 0.85);
 * on i.i.d. Gaussian K and V it changes nothing beyond noise. fp8's gain is too small to make
 * the runner rotate q and the attention output.
 * @module
 */
import { type KvCodecKind, type KvLayout, kvSections } from "./layout.ts";

/** A KV-cache dtype. */
export interface KvDtype {
  /** Canonical name (what block tables and profiles store). */
  readonly name: string;
  /** Tag the attention and seal kernels switch on: family code · 16 + bits (f16 is 0). */
  readonly id: number;
  /** Bits of one element's code, scales excluded. */
  readonly bits: number;
  /** Codec family, which fixes the block layout (layout.ts). */
  readonly kind: KvCodecKind;
  /** Other accepted names (case-insensitive). */
  readonly aliases: readonly string[];
  /**
   * Whether the family is meant for K and V rotated by the engine's randomized Hadamard
   * transform (KV_ROTATION); the runner rotates every block of the engine, f16 included.
   */
  readonly rotated: boolean;
  /** Names of the WGSL functions decoding a K and a V element (kernels/kv_decode.wgsl for every quantized dtype). */
  readonly wgsl: { readonly k: string; readonly v: string };
  /** Bytes of one block in one layer's pool, every scale byte included, 16-byte aligned. */
  blockBytes(layout: KvLayout): number;
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
};

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
): KvDtype {
  const wgsl = kind === "f16"
    ? { k: "kv_f16", v: "kv_f16" } // kernels/kv_load.wgsl, the attention kernel's own
    : { k: `kv_${kind}_k`, v: `kv_${kind}_v` };
  return {
    name,
    id: kind === "f16" ? 0 : KV_FAMILY_CODES[kind] * 16 + bits,
    bits,
    kind,
    aliases,
    rotated: kind === "vec",
    wgsl,
    blockBytes: (layout) => kvSections(kind, bits, layout).words * 4,
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
    ...KV_DTYPES.map((d) => `${d.name} (${d.aliases.join(", ")})`),
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
