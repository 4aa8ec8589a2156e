/**
 * The search under a floor: every (prompt, think, answer) assignment of the dtype ladder,
 * ordered by the bytes per token it would hold as served, its flip rate predicted from the
 * per-phase measurements (one phase quantized at a time), then the cheapest predicted to pass
 * measured jointly until one does. With a byte budget instead, the least predicted distortion
 * within it, measured the same way.
 * @module
 */
import { type Phase, PHASES } from "../kv/types.ts";
import type { Sensitivity } from "./sensitivity.ts";

/** One phase policy. */
export type PhasePolicy = Record<Phase, string>;

/** A candidate with its bytes and predicted flip rate. */
export interface Candidate {
  dtypes: PhasePolicy;
  bytesPerToken: number;
  /** Bytes per token on a long trace: where the phases' dtypes weigh in full. */
  longBytesPerToken: number;
  /** The chance that some phase flips a token: 1 − Π(1 − flip rate of each phase alone). */
  predictedFlipRate: number;
  /** The sum of the phases' p99 next-token KL: the tie-break among equal flip predictions. */
  predictedKl: number;
}

/** What the search is bound by. */
export type SearchGoal =
  | { kind: "floor"; maxFlipRate: number }
  | { kind: "budget"; maxBytesPerToken: number };

/** Every assignment of `ladder` to the phases, with its bytes and predicted flips. */
export function candidates(
  ladder: readonly string[],
  perPhase: (phase: Phase, dtype: string) => Sensitivity | null,
  bytesOf: (dtypes: PhasePolicy) => number,
  longBytesOf: (dtypes: PhasePolicy) => number,
): Candidate[] {
  const out: Candidate[] = [];
  for (const prompt of ladder) {
    for (const think of ladder) {
      for (const answer of ladder) {
        const dtypes: PhasePolicy = { prompt, think, answer };
        let keep = 1, kl = 0;
        for (const p of PHASES) {
          const s = perPhase(p, dtypes[p]);
          if (s === null) continue;
          keep *= 1 - s.flipRate;
          kl += s.klP99;
        }
        out.push({
          dtypes,
          bytesPerToken: bytesOf(dtypes),
          longBytesPerToken: longBytesOf(dtypes),
          predictedFlipRate: 1 - keep,
          predictedKl: kl,
        });
      }
    }
  }
  return out;
}

/** The order in which candidates are measured for `goal`. */
export function searchOrder(all: readonly Candidate[], goal: SearchGoal): Candidate[] {
  if (goal.kind === "floor") {
    return all.filter((c) => c.predictedFlipRate <= goal.maxFlipRate)
      .sort((a, b) =>
        a.bytesPerToken - b.bytesPerToken || a.longBytesPerToken - b.longBytesPerToken ||
        a.predictedKl - b.predictedKl
      );
  }
  return all.filter((c) => c.bytesPerToken <= goal.maxBytesPerToken)
    .sort((a, b) =>
      a.predictedFlipRate - b.predictedFlipRate || a.predictedKl - b.predictedKl ||
      a.bytesPerToken - b.bytesPerToken
    );
}

/** A candidate and its joint measurement. */
export interface Measured extends Candidate {
  measured: Sensitivity;
}

/**
 * Measures candidates in `order` until one meets the goal (floor: measured flip rate within it;
 * budget: the best of the first `maxMeasured`); null when none does.
 */
export async function searchMeasured(
  order: readonly Candidate[],
  goal: SearchGoal,
  measure: (c: Candidate) => Promise<Sensitivity>,
  maxMeasured = 4,
): Promise<{ chosen: Measured | null; tried: Measured[] }> {
  const tried: Measured[] = [];
  for (const c of order.slice(0, maxMeasured)) {
    const m = { ...c, measured: await measure(c) };
    tried.push(m);
    if (goal.kind === "floor" && m.measured.flipRate <= goal.maxFlipRate) {
      return { chosen: m, tried };
    }
  }
  if (goal.kind === "floor" || tried.length === 0) return { chosen: null, tried };
  const best = tried.reduce((a, m) =>
    m.measured.flipRate < a.measured.flipRate ||
      (m.measured.flipRate === a.measured.flipRate && m.measured.klP99 < a.measured.klP99)
      ? m
      : a
  );
  return { chosen: best, tried };
}

/** `prompt int4, think int4, answer int3`, or `uniform int4`. */
export function describePolicy(dtypes: PhasePolicy): string {
  if (dtypes.prompt === dtypes.think && dtypes.think === dtypes.answer) {
    return `uniform ${dtypes.prompt}`;
  }
  return PHASES.map((p) => `${p} ${dtypes[p]}`).join(", ");
}
