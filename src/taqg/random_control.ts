/**
 * The control for a phase split: as many tokens lowered as the split lowers, but in blocks drawn
 * at random from the whole sequence with a seeded RNG, so the two store the same bits and any
 * gain of the split over the control is due to the phase.
 * @module
 */
import type { Phase } from "../kv/types.ts";
import type { KvDtypes } from "./allocation.ts";
import { applyPlan, type ConfigContext, type KvConfig } from "./configs.ts";
import type { BlockPlan } from "./quantize_cache.ts";
import { createRng, shuffle } from "./rng.ts";
import type { KvBlock } from "./trace.ts";

/** The control for lowering `phase` from `base` to `lowered`: random blocks, same token count. */
export function randomBlockConfig(
  base: string,
  lowered: string,
  phase: Phase,
  seed: number,
): KvConfig {
  const high: KvDtypes = { key: base, value: base };
  const low: KvDtypes = { key: lowered, value: lowered };
  return {
    name: `random blocks (${lowered}, seed ${seed})`,
    kind: "random-blocks",
    allocation: null,
    apply: (ctx, codec) => applyPlan(ctx, codec, plan(ctx)),
    plan,
  };

  function plan(ctx: ConfigContext): BlockPlan {
    const target = ctx.blocks.reduce((n, b) => n + (b.phase === phase ? b.end - b.start : 0), 0);
    const chosen = pickBlocks(ctx.blocks, target, seed + ctx.traceIndex);
    return (_, block) => (chosen.has(block.index) ? low : high);
  }
}

/**
 * Blocks in random order, taken while they fit, then swapped (one taken for one left) while a
 * swap brings the total closer to `target` tokens without passing it; returns block indices.
 */
export function pickBlocks(blocks: readonly KvBlock[], target: number, seed: number): Set<number> {
  const size = (b: KvBlock) => b.end - b.start;
  const chosen = new Set<number>();
  let tokens = 0;
  for (const b of shuffle([...blocks], createRng(seed))) {
    if (tokens + size(b) > target) continue;
    chosen.add(b.index);
    tokens += size(b);
  }
  // partial blocks at phase ends can leave the draw short; a swap of unequal sizes closes it
  for (let shortfall = target - tokens; shortfall > 0;) {
    let best: [KvBlock, KvBlock] | null = null;
    let bestGain = 0;
    for (const out of blocks) {
      if (!chosen.has(out.index)) continue;
      for (const into of blocks) {
        const gain = size(into) - size(out);
        if (!chosen.has(into.index) && gain > bestGain && gain <= shortfall) {
          [best, bestGain] = [[out, into], gain];
        }
      }
    }
    if (best === null) break;
    chosen.delete(best[0].index);
    chosen.add(best[1].index);
    shortfall -= bestGain;
  }
  return chosen;
}
