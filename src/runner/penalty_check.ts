/**
 * Validation of a step sequence's penalties and count reset (step_pack's part for them), so a
 * bad value is a RangeError naming the field before anything reaches the GPU.
 * @module
 */
import type { StepSeq } from "./types.ts";

/** Throws RangeError when `seq`'s penalties are not finite or its countsFrom leaves the vocabulary. */
export function checkPenalties(seq: StepSeq, index: number, vocabSize: number): void {
  const p = seq.penalties;
  if (p !== undefined && !(Number.isFinite(p.presence) && Number.isFinite(p.frequency))) {
    throw new RangeError(
      `Sequence ${index} has penalties presence ${p.presence}, frequency ${p.frequency}`,
    );
  }
  for (const t of seq.countsFrom ?? []) {
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) {
      throw new RangeError(
        `Sequence ${index} countsFrom token ${t} is outside the vocabulary of ${vocabSize}`,
      );
    }
  }
}
