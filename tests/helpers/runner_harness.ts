/**
 * Driving a ModelRunner like a one-sequence engine in tests: a sequential list of f16 blocks,
 * a prefill step, then decode steps fed from the GPU's own sampled tokens.
 * @module
 */
import type { BlockEntry } from "../../src/kv/types.ts";
import type { ModelRunner } from "../../src/runner/model_runner.ts";
import { sequentialF16Blocks, withTokens } from "../../src/runner/single_sequence.ts";
import { GREEDY, type SamplingParams, type StepInput } from "../../src/runner/types.ts";

/** Blocks of one sequence at consecutive offsets of the pool, all f16. */
export const sequentialBlocks = sequentialF16Blocks;

/** The prefill step of `promptIds` for slot `slot` (all prompt rows in one step). */
export function prefillStep(
  runner: ModelRunner,
  blocks: BlockEntry[],
  promptIds: readonly number[],
  opts: { slot?: number; sampling?: SamplingParams; returnLogits?: boolean } = {},
): StepInput {
  return {
    seqs: [{
      slot: opts.slot ?? 0,
      blocks: withTokens(blocks, runner.blockSize, promptIds.length),
      sample: true,
      sampling: opts.sampling ?? GREEDY,
      sampleIndex: 0,
    }],
    rows: promptIds.map((token, position) => ({ seq: 0, position, token })),
    returnLogits: opts.returnLogits,
  };
}

/** A decode step at `position` whose token is the slot's last sample on the GPU. */
export function decodeStep(
  runner: ModelRunner,
  blocks: BlockEntry[],
  position: number,
  sampleIndex: number,
  opts: { slot?: number; sampling?: SamplingParams; returnLogits?: boolean } = {},
): StepInput {
  return {
    seqs: [{
      slot: opts.slot ?? 0,
      blocks: withTokens(blocks, runner.blockSize, position + 1),
      sample: true,
      sampling: opts.sampling ?? GREEDY,
      sampleIndex,
    }],
    rows: [{ seq: 0, position, token: null }],
    returnLogits: opts.returnLogits,
  };
}

/** Greedy tokens: a prefill, then n - 1 decode steps all submitted before any is awaited. */
export async function generatePipelined(
  runner: ModelRunner,
  promptIds: readonly number[],
  n: number,
  sampling: SamplingParams = GREEDY,
): Promise<number[]> {
  const blocks = sequentialBlocks(runner, promptIds.length + n);
  const steps = [runner.step(prefillStep(runner, blocks, promptIds, { sampling }))];
  for (let i = 1; i < n; i++) {
    steps.push(runner.step(decodeStep(runner, blocks, promptIds.length + i - 1, i, { sampling })));
  }
  return (await Promise.all(steps)).map((r) => r.tokens[0]);
}
