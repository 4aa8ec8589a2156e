/**
 * KV allocations (a key and a value dtype per phase, optionally per layer), their effective
 * bits per element, and the TAQG bound read direction-agnostically: whichever phase is more
 * redundant is the one that gets fewer bits.
 * @module
 */
import { type Phase, PHASES } from "../kv/types.ts";

/** Whether a tensor holds keys or values; the codec groups them differently. */
export type KvKind = "key" | "value";

/** The key and value dtypes (registry names) of one slot. */
export interface KvDtypes {
  key: string;
  value: string;
}

/** One `KvDtypes` per phase. */
export type PhaseDtypes = Record<Phase, KvDtypes>;

/** A phase policy; `perLayer`, when present, overrides `phases` layer by layer. */
export interface KvAllocation {
  phases: PhaseDtypes;
  perLayer?: PhaseDtypes[];
}

/** Stored bits per element of a dtype for keys or values, scale and minimum bytes included. */
export type BitsPerElement = (dtype: string, kind: KvKind) => number;

/** A dtype and its nominal bit width, for stepping down by a bit gap. */
export interface LadderStep {
  dtype: string;
  bits: number;
}

/** The integer ladder the bound steps down: f16, int8, int4, int3, int2. */
export const DEFAULT_LADDER: readonly LadderStep[] = [
  { dtype: "f16", bits: 16 },
  { dtype: "int8", bits: 8 },
  { dtype: "int4", bits: 4 },
  { dtype: "int3", bits: 3 },
  { dtype: "int2", bits: 2 },
];

/** The phases TAQG compares: the two that a reasoning model generates. */
export const GENERATED_PHASES: readonly [Phase, Phase] = ["think", "answer"];

/**
 * The TAQG bit gap ⌊log2((1−ρ_L)/(1−ρ_H) + 1)⌋ for ρ_H ≥ ρ_L; 0 when they are equal.
 * Any positive difference gives at least 1; a gap of 2 needs (1−ρ_L) ≥ 3(1−ρ_H).
 */
export function taqgBitGap(rhoHigh: number, rhoLow: number): number {
  if (!(rhoHigh >= rhoLow)) throw new RangeError(`ρ_H ${rhoHigh} is below ρ_L ${rhoLow}`);
  if (rhoHigh === rhoLow) return 0;
  if (rhoHigh >= 1) return Infinity;
  return Math.floor(Math.log2((1 - rhoLow) / (1 - rhoHigh) + 1));
}

/** Which of two phases the bound lowers, and by how many bits. */
export interface TaqgSplit {
  high: Phase;
  low: Phase;
  gap: number;
}

/** Applies the bound to the two phases `pair`; null when their ρ are equal (no gap). */
export function taqgSplit(
  rho: Readonly<Record<Phase, number>>,
  pair: readonly [Phase, Phase] = GENERATED_PHASES,
): TaqgSplit | null {
  const [a, b] = pair;
  if (!Number.isFinite(rho[a]) || !Number.isFinite(rho[b])) {
    throw new RangeError(`ρ of ${a} and ${b} must be finite, got ${rho[a]} and ${rho[b]}`);
  }
  if (rho[a] === rho[b]) return null;
  const [high, low] = rho[a] > rho[b] ? [a, b] : [b, a];
  return { high, low, gap: taqgBitGap(rho[high], rho[low]) };
}

/** The ladder dtype with the most bits at or below `bits(dtype) − gap` (the lowest if none). */
export function lowerDtype(
  dtype: string,
  gap: number,
  ladder: readonly LadderStep[] = DEFAULT_LADDER,
): string {
  const from = ladder.find((s) => s.dtype === dtype);
  if (from === undefined) throw new RangeError(`Dtype ${dtype} is not on the ladder`);
  const below = ladder.filter((s) => s.bits <= from.bits - gap);
  if (below.length === 0) return ladder.reduce((a, s) => (s.bits < a.bits ? s : a)).dtype;
  return below.reduce((a, s) => (s.bits > a.bits ? s : a)).dtype;
}

/** The same `KvDtypes` for every phase. */
export function uniformAllocation(key: string, value: string = key): KvAllocation {
  const slot = { key, value };
  return { phases: { prompt: slot, think: slot, answer: slot } };
}

/** The dtypes `allocation` gives `phase` in `layer`. */
export function dtypesAt(allocation: KvAllocation, layer: number, phase: Phase): KvDtypes {
  return (allocation.perLayer?.[layer] ?? allocation.phases)[phase];
}

/**
 * Effective stored bits per K/V element of `allocation` for a sequence with `counts` tokens
 * per phase over `numLayers` layers (every layer stores the same number of elements).
 */
export function effectiveBits(
  allocation: KvAllocation,
  counts: Readonly<Record<Phase, number>>,
  numLayers: number,
  bitsPerElement: BitsPerElement,
): number {
  let bits = 0;
  let elements = 0;
  for (let layer = 0; layer < numLayers; layer++) {
    for (const phase of PHASES) {
      const { key, value } = dtypesAt(allocation, layer, phase);
      bits += counts[phase] * (bitsPerElement(key, "key") + bitsPerElement(value, "value"));
      elements += 2 * counts[phase];
    }
  }
  return elements === 0 ? NaN : bits / elements;
}

/** KV bytes per token at `bitsPerElem`, K and V of every layer and KV head. */
export function bytesPerToken(
  bitsPerElem: number,
  dims: { numLayers: number; numKvHeads: number; headDim: number },
): number {
  return (bitsPerElem * 2 * dims.numLayers * dims.numKvHeads * dims.headDim) / 8;
}
