/**
 * Sensitivity of the model's greedy choices to a KV configuration, on teacher-forced traces of
 * its own f16 generations: at every generated position, whether the top-1 token differs from
 * f16's (a flip: where greedy decoding would part ways) and the KL of the next-token
 * distribution, reported by its tail (p99, max) as well as its mean, since rare flips decide an
 * exact answer while the mean barely moves.
 * @module
 */
import type { Phase } from "../kv/types.ts";
import type { BatchRunner, BatchSeq, BlockInfo } from "./batch_runner.ts";
import { nextTokenKl } from "./distortion.ts";

/** A generated sequence to teacher-force: its prompt and its f16 greedy tokens. */
export interface Trace {
  promptIds: number[];
  startsInThink: boolean;
  ids: number[];
  /** Phase of every token, prompt included. */
  phases: Phase[];
}

/** How a configuration moved the model's next-token choices. */
export interface Sensitivity {
  /** Positions where the top-1 token differs from f16's. */
  flips: number;
  /** Generated positions measured. */
  positions: number;
  /** flips / positions. */
  flipRate: number;
  /** Sequences with at least one flip, over sequences. */
  seqFlipRate: number;
  klMean: number;
  klP99: number;
  klMax: number;
}

/** Per trace, per generated position, the f16 logits. */
export type Reference = Float32Array[][];

/** Teacher-forces `traces` in batches with each block sealed to `dtypeOf`; logits per position. */
export async function forcedLogits(
  runner: BatchRunner,
  traces: readonly Trace[],
  dtypeOf: (trace: number, block: BlockInfo) => string,
  recentTokens: number,
): Promise<Reference> {
  const out: Reference = [];
  for (let at = 0; at < traces.length; at += runner.maxSeqs) {
    const batch = traces.slice(at, at + runner.maxSeqs);
    const seqs: BatchSeq[] = batch.map((t) => ({
      promptIds: t.promptIds,
      startsInThink: t.startsInThink,
      forced: t.ids,
    }));
    const results = await runner.run(seqs, {
      dtypeOf: (b) => dtypeOf(at + b.seq, b),
      recentTokens,
      maxTokens: Math.max(...batch.map((t) => t.ids.length)),
      logits: true,
    });
    out.push(...results.map((r) => r.logits!));
  }
  return out;
}

/** Flips and next-token KL of `quantized` logits against `reference`, position by position. */
export function compareLogits(reference: Reference, quantized: Reference): Sensitivity {
  const kls: number[] = [];
  let flips = 0, seqsFlipped = 0;
  reference.forEach((rows, s) => {
    let flipped = false;
    rows.forEach((ref, i) => {
      const q = quantized[s][i];
      if (argmax(ref) !== argmax(q)) {
        flips++;
        flipped = true;
      }
      kls.push(klDivergence(ref, q));
    });
    if (flipped) seqsFlipped++;
  });
  const sorted = Float64Array.from(kls).sort();
  const at = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
  const positions = kls.length;
  return {
    flips,
    positions,
    flipRate: positions === 0 ? NaN : flips / positions,
    seqFlipRate: reference.length === 0 ? NaN : seqsFlipped / reference.length,
    klMean: kls.reduce((a, b) => a + b, 0) / Math.max(1, positions),
    klP99: at(0.99),
    klMax: sorted[sorted.length - 1] ?? NaN,
  };
}

/** Index of the largest logit (the lowest index on a tie, as the GPU sampler picks). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** KL(softmax(p) ‖ softmax(q)) in nats. */
export function klDivergence(p: Float32Array, q: Float32Array): number {
  return nextTokenKl(p, q, p.length)[0];
}
