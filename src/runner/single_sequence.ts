/**
 * A one-sequence driver for the runner (the decode benchmark and the runner tests use it; the
 * CLI and the server go through the engine's scheduler): a sequential list of f16 blocks, the
 * prompt prefilled in chunks of the runner's row budget, then decode steps kept `depth` deep in
 * flight, each reading the previous step's token on the GPU. Tokens computed past a stop are
 * dropped.
 * @module
 */
import type { BlockEntry } from "../kv/types.ts";
import type { ModelRunner } from "./model_runner.ts";
import type { SamplingParams, StepInput, StepResult } from "./types.ts";

/** How to generate. */
export interface GenerateOptions {
  maxTokens: number;
  sampling: SamplingParams;
  /** Ids that end generation (included in the output). */
  stopIds?: readonly number[];
  /** Rows per prefill step (the runner's maxRowsPerStep). */
  maxRowsPerStep: number;
  /** Decode steps in flight (default 4). */
  depth?: number;
  /** Called with each token as it arrives. */
  onToken?: (id: number) => void;
}

/** Generated ids and where the time went. */
export interface GenerateResult {
  ids: number[];
  /** Milliseconds from the first prefill step to the first token. */
  prefillMs: number;
  /** Milliseconds from the first token to the last. */
  decodeMs: number;
}

/**
 * `blocks` as the table of a sequence holding `numTokens` tokens: blocks filled in order, each
 * up to `blockSize` (the runner maps positions to blocks through these counts).
 */
export function withTokens(
  blocks: readonly BlockEntry[],
  blockSize: number,
  numTokens: number,
): BlockEntry[] {
  return blocks.map((b, i) => ({
    ...b,
    tokens: Math.max(0, Math.min(blockSize, numTokens - i * blockSize)),
  }));
}

/** The f16 blocks of one sequence of up to `numTokens` tokens, from pool block `firstBlock` on. */
export function sequentialF16Blocks(
  runner: ModelRunner,
  numTokens: number,
  firstBlock = 0,
): BlockEntry[] {
  const bytes = runner.blockBytes("f16");
  return Array.from({ length: Math.ceil(numTokens / runner.blockSize) }, (_, i) => ({
    offset: (firstBlock + i) * bytes,
    dtype: "f16",
    phase: "prompt" as const,
    tokens: 0,
  }));
}

/** Generates up to `maxTokens` tokens after `promptIds` in slot 0. */
export async function generateOne(
  runner: ModelRunner,
  promptIds: readonly number[],
  opts: GenerateOptions,
): Promise<GenerateResult> {
  if (promptIds.length === 0) throw new RangeError("The prompt has no tokens");
  const blocks = sequentialF16Blocks(runner, promptIds.length + opts.maxTokens);
  const stop = new Set(opts.stopIds ?? []);
  const step = (rows: StepInput["rows"], sample: boolean, sampleIndex: number) =>
    runner.step({
      seqs: [{
        slot: 0,
        blocks: withTokens(blocks, runner.blockSize, rows[rows.length - 1].position + 1),
        sample,
        sampling: opts.sampling,
        sampleIndex,
      }],
      rows,
    });
  const start = performance.now();
  let prefill: Promise<StepResult> | null = null;
  for (let at = 0; at < promptIds.length; at += opts.maxRowsPerStep) {
    const chunk = promptIds.slice(at, at + opts.maxRowsPerStep);
    const last = at + chunk.length === promptIds.length;
    const r = step(chunk.map((token, i) => ({ seq: 0, position: at + i, token })), last, 0);
    if (last) prefill = r;
  }
  // The prefill is awaited alone so its time is not mixed with decode steps queued behind it
  // (Deno's mapAsync waits for the whole queue); that costs one ~10 ms bubble per prompt.
  const ids = [(await prefill!).tokens[0]];
  const firstTokenAt = performance.now();
  opts.onToken?.(ids[0]);
  const pending: Promise<StepResult>[] = [];
  let submitted = 1;
  while (!stop.has(ids[ids.length - 1]) && ids.length < opts.maxTokens) {
    while (submitted < opts.maxTokens && pending.length < (opts.depth ?? 4)) {
      const position = promptIds.length + submitted - 1;
      pending.push(step([{ seq: 0, position, token: null }], true, submitted));
      submitted++;
    }
    const id = (await pending.shift()!).tokens[0];
    ids.push(id);
    opts.onToken?.(id);
  }
  // Steps past a stop still run; let them finish before the caller reuses the runner.
  await Promise.allSettled(pending);
  return { ids, prefillMs: firstTokenAt - start, decodeMs: performance.now() - firstTokenAt };
}
