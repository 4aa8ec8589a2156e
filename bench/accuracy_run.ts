/**
 * Runs held-out problems through phasekv's own engine under one KV configuration: an in-process
 * engine per configuration (the prompt's dtype is an engine setting), every problem submitted
 * through a pool that keeps the scheduler's batch full, greedy decoding.
 * @module
 */
import { createEngine } from "../src/engine/engine.ts";
import type { WeightsDtype } from "../src/model/weights_dtype.ts";
import type { EngineApi, GenerateOutput } from "../src/engine/types.ts";
import { engineKvOptions, type KvConfig } from "./accuracy_configs.ts";
import { type HeldoutProblem, type RequestResult, scoreRequest } from "./accuracy_score.ts";

/** Engine settings the bench chooses (batching and memory), the same for every configuration. */
export interface RunSettings {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  kvCacheMemory: number;
  /** Generated-token cap of every request. */
  maxTokens: number;
  /** How the model's matrices are stored (default f16). */
  weightsDtype?: WeightsDtype;
  /** Tokens per KV block; undefined: the engine's default. */
  blockSize?: number;
  /** Full-precision recent window; undefined: the engine's default. */
  recentTokens?: number;
}

/** Starts the engine of one configuration; `calibrated` keeps the model's profile, others drop it. */
export function startEngine(
  model: string,
  config: KvConfig,
  settings: RunSettings,
): Promise<EngineApi> {
  return createEngine({
    model,
    inProcess: true,
    kvCacheMemory: settings.kvCacheMemory,
    maxNumSeqs: settings.maxNumSeqs,
    maxNumBatchedTokens: settings.maxNumBatchedTokens,
    weightsDtype: settings.weightsDtype,
    kvRecentTokens: settings.recentTokens,
    blockSize: settings.blockSize,
    // the pool below never queues more than this many requests at once
    maxWaiting: 2 * settings.maxNumSeqs,
    // a profile beside the model would override the engine's dtypes: only `calibrated` wants it
    kvProfile: config.dtypes ? "none" : "auto",
    ...(config.dtypes ? engineKvOptions(config.dtypes) : {}),
    kvCacheDtypeThinkAfterAnswer: config.thinkAfterAnswer,
  });
}

/** Token ids of each problem's chat prompt, as the server would render and encode it. */
export function encodePrompts(engine: EngineApi, problems: readonly HeldoutProblem[]): number[][] {
  return problems.map((p) => engine.encode(engine.applyChatTemplate(p.messages)));
}

/** Solves every problem on `engine`; `onDone` is called as each request finishes. */
export async function solveAll(
  engine: EngineApi,
  problems: readonly HeldoutProblem[],
  prompts: readonly number[][],
  settings: RunSettings,
  onDone: (done: number) => void,
): Promise<RequestResult[]> {
  const results: RequestResult[] = new Array(problems.length);
  let next = 0, done = 0;
  const solveNext = async (): Promise<void> => {
    while (next < problems.length) {
      const i = next++;
      const outputs: GenerateOutput[] = [];
      const stream = engine.generate({
        promptIds: prompts[i],
        maxTokens: settings.maxTokens,
        sampling: { temperature: 0 },
      });
      for await (const output of stream) outputs.push(output);
      results[i] = scoreRequest(outputs, problems[i].answer);
      onDone(++done);
    }
  };
  // twice the batch in flight, so a finished sequence's slot is refilled at the next step
  const lanes = Math.min(problems.length, 2 * settings.maxNumSeqs);
  await Promise.all(Array.from({ length: lanes }, solveNext));
  return results;
}
