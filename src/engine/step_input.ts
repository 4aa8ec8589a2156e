/**
 * Turns the scheduler's chunks into the runner's StepInput: one StepSeq per chunk with its block
 * table after the append, one row per position (known tokens explicit, the token still on the
 * GPU as null), and the seals the appends asked for. A penalised sequence whose GPU token counts
 * may be wrong (see Sequence.countsStale) has them rebuilt from its known output.
 * @module
 */
import type { SealOp, StepInput, StepRow, StepSeq } from "../runner/types.ts";
import type { ScheduledChunk } from "./scheduler.ts";

/** The step the runner encodes for `chunks` (call before the sequences' pending counts move). */
export function buildStepInput(
  chunks: readonly ScheduledChunk[],
  demotions: readonly SealOp[] = [],
): StepInput {
  const seqs: StepSeq[] = [];
  const rows: StepRow[] = [];
  chunks.forEach((chunk, i) => {
    const { seq } = chunk;
    seqs.push({
      slot: seq.slot!,
      // copies: the live table changes in place while this step may still be encoding
      blocks: seq.kv.blocks.map((b) => ({ ...b })),
      sample: chunk.sample,
      sampling: seq.sampling,
      sampleIndex: seq.sampleIndex,
      penalties: seq.penalties,
      countsFrom: seq.penalties && seq.countsStale ? [...seq.outputIds] : undefined,
    });
    if (seq.penalties) seq.countsStale = false;
    for (let p = chunk.start; p < chunk.start + chunk.numTokens; p++) {
      rows.push({ seq: i, position: p, token: seq.tokenAt(p) });
    }
  });
  // the GPU computes logprobs for the whole step when any sampling sequence asks
  const returnLogprobs = chunks.some((c) => c.sample && c.seq.request.logprobs !== undefined);
  return { seqs, rows, seals: [...chunks.flatMap((c) => c.seals), ...demotions], returnLogprobs };
}
