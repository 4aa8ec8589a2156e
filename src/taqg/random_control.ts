/**
 * The random-block control: the same dtypes as a phase policy, in the same shares of sealed
 * blocks, given to blocks at random instead of by phase. A phase-aware result means something
 * only beside it, at the same bytes.
 * @module
 */
import type { Phase } from "../kv/types.ts";
import { createRng } from "./rng.ts";
import { blocksOf, type ByteDims, heldBytes } from "./served_bytes.ts";
import type { PhasePolicy } from "./search.ts";

/** The share of sealed blocks at each dtype under `policy` on sequences holding `held`. */
export function dtypeMix(
  held: readonly (readonly Phase[])[],
  policy: PhasePolicy,
  recentTokens: number,
  blockSize: number,
): Map<string, number> {
  const counts = new Map<string, number>();
  let total = 0;
  for (const phases of held) {
    const blocks = blocksOf(phases, blockSize);
    blocks.forEach((b, i) => {
      if (i === blocks.length - 1 || phases.length - b.end < recentTokens) return;
      counts.set(policy[b.phase], (counts.get(policy[b.phase]) ?? 0) + 1);
      total++;
    });
  }
  return new Map([...counts].map(([d, n]) => [d, n / Math.max(1, total)]));
}

/** A dtype per (sequence, block) drawn from `mix`: the same for the same block and seed. */
export function randomBlocks(
  mix: ReadonlyMap<string, number>,
  seed: number,
): (seq: number, index: number) => string {
  const entries = [...mix].sort(([a], [b]) => a.localeCompare(b));
  return (seq, index) => {
    let u = createRng(seed * 1_000_003 + seq * 1009 + index).uniform();
    for (const [dtype, share] of entries) {
      if (u < share) return dtype;
      u -= share;
    }
    return entries.at(-1)?.[0] ?? "f16";
  };
}

/** Bytes per token of sequences holding `held` when each block is `randomOf` (sequence, block). */
export function randomBytesPerToken(
  held: readonly (readonly Phase[])[],
  randomOf: (seq: number, index: number) => string,
  recentTokens: number,
  dims: ByteDims,
): number {
  let bytes = 0, tokens = 0;
  held.forEach((phases, s) => {
    bytes += heldBytes(phases, (_, i) => randomOf(s, i), recentTokens, dims);
    tokens += phases.length;
  });
  return bytes / tokens;
}
