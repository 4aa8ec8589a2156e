/**
 * Task accuracy of a KV configuration on held-out problems: each problem generated greedily on
 * the served runner with its blocks sealed as the configuration says (window included), its
 * answer-phase text matched exactly, and the KV bytes each sequence held at its end.
 * @module
 */
import type { Tokenizer } from "../model/tokenizer.ts";
import type { BatchRunner, BlockInfo } from "./batch_runner.ts";
import { isCorrect } from "./heldout.ts";
import type { EncodedPrompt } from "./prompts.ts";

/** A problem ready to run: its encoded prompt and the answer expected. */
export interface EncodedProblem extends EncodedPrompt {
  answer: string;
}

/** Outcomes of one configuration, problem by problem. */
export interface TaskScore {
  /** Whether each problem was solved, in order. */
  outcomes: boolean[];
  accuracy: number;
  /** KV bytes held over KV tokens held, summed over problems. */
  bytesPerToken: number;
  /** The generated ids and their phases (the f16 run's become calibration traces). */
  generated: { ids: number[]; phases: string[] }[];
}

/** Solves `problems` under `dtypeOf` (problem index, block) with `recentTokens` kept f16. */
export async function scoreProblems(
  runner: BatchRunner,
  tokenizer: Tokenizer,
  problems: readonly EncodedProblem[],
  dtypeOf: (problem: number, block: BlockInfo) => string,
  opts: { recentTokens: number; maxTokens: number; onBatch?: (done: number) => void },
): Promise<TaskScore> {
  const outcomes: boolean[] = [];
  const generated: TaskScore["generated"] = [];
  const stop = new Set(runner.spec.eosTokenIds);
  let bytes = 0, tokens = 0;
  for (let at = 0; at < problems.length; at += runner.maxSeqs) {
    const batch = problems.slice(at, at + runner.maxSeqs);
    const results = await runner.run(
      batch.map((p) => ({ promptIds: p.ids, startsInThink: p.startsInThink })),
      {
        dtypeOf: (b) => dtypeOf(at + b.seq, b),
        recentTokens: opts.recentTokens,
        maxTokens: opts.maxTokens,
      },
    );
    results.forEach((r, i) => {
      const answerIds = r.ids.filter((id, j) => r.phases[j] === "answer" && !stop.has(id));
      const text = answerIds.length === 0
        ? ""
        : tokenizer.decode(answerIds, { skipSpecialTokens: true });
      outcomes.push(isCorrect(text, batch[i].answer));
      generated.push({ ids: r.ids, phases: r.phases });
      bytes += r.kvBytes;
      tokens += r.kvTokens;
    });
    opts.onBatch?.(Math.min(problems.length, at + runner.maxSeqs));
  }
  const correct = outcomes.filter(Boolean).length;
  return {
    outcomes,
    accuracy: problems.length === 0 ? NaN : correct / problems.length,
    bytesPerToken: tokens === 0 ? NaN : bytes / tokens,
    generated,
  };
}
