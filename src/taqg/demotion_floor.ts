/**
 * The demotion order and floors a profile records (`demotion`, `--kv-demotion`'s syntax), from
 * the one-phase measurements: a phase may be demoted under memory pressure to the narrowest
 * ladder dtype below its chosen one whose flip rate, that phase alone, stays under the same
 * floor the search used; a phase with no block out of the window on the traces is unmeasured
 * and never demoted. Phases whose floor flips least go first; on a tie, answer, then think, then
 * the prompt (which holds the operands: redundancy is not importance).
 * @module
 */
import { formatDemotionPolicy } from "../kv/demotion_policy.ts";
import { kvDtype } from "../kv/dtype.ts";
import { type Phase, PHASES } from "../kv/types.ts";
import type { PhasePolicy } from "./search.ts";
import type { Sensitivity } from "./sensitivity.ts";

/** The `demotion` value for `chosen`: "phase:dtype,…" or "none". */
export function chooseDemotion(
  chosen: PhasePolicy,
  ladder: readonly string[],
  perPhase: (phase: Phase, dtype: string) => Sensitivity | undefined,
  sealedBlocks: Record<Phase, number>,
  maxFlipRate: number,
): string {
  const steps: { phase: Phase; dtype: string; flipRate: number }[] = [];
  for (const phase of PHASES) {
    if (sealedBlocks[phase] === 0 || chosen[phase] === "f16") continue;
    const bits = kvDtype(chosen[phase]).meanBits;
    let best: { dtype: string; flipRate: number; bits: number } | null = null;
    for (const dtype of ladder) {
      const d = kvDtype(dtype);
      const s = perPhase(phase, d.name);
      if (d.meanBits >= bits || !s || s.flipRate > maxFlipRate) continue;
      if (!best || d.meanBits < best.bits) {
        best = { dtype: d.name, flipRate: s.flipRate, bits: d.meanBits };
      }
    }
    if (best) steps.push({ phase, dtype: best.dtype, flipRate: best.flipRate });
  }
  const tie: Phase[] = ["answer", "think", "prompt"];
  steps.sort((a, b) => a.flipRate - b.flipRate || tie.indexOf(a.phase) - tie.indexOf(b.phase));
  return formatDemotionPolicy(steps);
}
