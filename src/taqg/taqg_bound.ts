/**
 * The TAQG bound read direction-agnostically: whichever generated phase is more redundant gets
 * fewer bits. Kept as the seed's hypothesis, reported beside what measurement chose.
 * @module
 */
import type { Phase } from "../kv/types.ts";

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
