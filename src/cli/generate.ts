/**
 * `deno task generate`: one prompt through the serving engine (the same scheduler, phase-tagged
 * KV cache and GPU runner as `deno task serve`), text on stdout as it comes, progress on stderr.
 * With --json the last stdout line is one JSON object: the prompt and generated ids, the text,
 * and what the KV cache cost per phase.
 *
 *   deno task generate [--model DIR] (--prompt TEXT | --prompt-ids 1,2,3) [--chat] [--json]
 *     [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--seed S]
 *     [--kv-cache-dtype D] [--kv-cache-dtype-think D] [--kv-cache-dtype-answer D]
 *     [--think-fraction F] [--block-size N] [--kv-cache-memory BYTES] [--max-think-tokens N]
 * @module
 */
import { createEngine } from "../engine/engine.ts";
import type { EngineApi, FinishReason } from "../engine/types.ts";
import { type UsageJson, UsageTally } from "../server/usage.ts";
import {
  GENERATE_USAGE,
  GenerateFlagError,
  type GenerateFlags,
  parseGenerateArgs,
} from "./generate_flags.ts";
import { PhasePrinter } from "./phase_printer.ts";

/** The object `--json` prints. */
export interface GenerateJson {
  prompt_ids: number[];
  /** Generated ids, the stop token included. */
  ids: number[];
  /** Generated text, reasoning and answer, think markers left out. */
  text: string;
  finish_reason: FinishReason | null;
  kv: UsageJson["kv"] | null;
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let flags: GenerateFlags | null;
  try {
    flags = parseGenerateArgs(args);
  } catch (error) {
    if (!(error instanceof GenerateFlagError)) throw error;
    console.error(`generate: ${error.message}\n\n${GENERATE_USAGE}`);
    return 2;
  }
  if (!flags) {
    console.log(GENERATE_USAGE);
    return 0;
  }
  // in-process: one sequence has no HTTP thread to keep responsive, so no Worker is needed
  const engine = await createEngine({
    model: flags.model,
    inProcess: true,
    maxNumSeqs: 1,
    kvCacheMemory: flags.kvCacheMemory,
    kvCacheDtype: flags.kvCacheDtype,
    kvCacheDtypeThink: flags.kvCacheDtypeThink,
    kvCacheDtypeAnswer: flags.kvCacheDtypeAnswer,
    kvProfile: flags.kvProfile,
    weightsDtype: flags.weightsDtype,
    thinkFraction: flags.thinkFraction,
    kvRecentTokens: flags.kvRecentTokens,
    blockSize: flags.blockSize,
    onProgress: (message) => console.error(`generate: ${message}`),
  });
  try {
    const result = await run(engine, flags);
    if (flags.json) console.log(JSON.stringify(result));
  } finally {
    await engine.close();
  }
  return 0;
}

async function run(engine: EngineApi, flags: GenerateFlags): Promise<GenerateJson> {
  const promptIds = flags.promptIds ?? encodePrompt(engine, flags.prompt!, flags.chat);
  const printer = new PhasePrinter(Deno.stdout, Deno.stdout.isTerminal() && !Deno.noColor);
  const tally = new UsageTally(promptIds.length);
  const ids: number[] = [];
  let text = "";
  let finishReason: FinishReason | null = null;
  const start = performance.now();
  let firstAt = 0;
  for await (
    const output of engine.generate({
      promptIds,
      maxTokens: flags.maxTokens,
      sampling: {
        temperature: flags.temperature,
        topP: flags.topP,
        topK: flags.topK,
        minP: flags.minP,
        seed: flags.seed,
      },
      maxThinkTokens: flags.maxThinkTokens,
    })
  ) {
    if (ids.length === 0 && output.tokenIds.length > 0) firstAt = performance.now();
    ids.push(...output.tokenIds);
    text += output.text;
    tally.add(output);
    printer.write(output);
    finishReason = output.finishReason ?? finishReason;
  }
  printer.end();
  const usage = tally.toJson();
  reportSpeed(promptIds.length, ids.length, firstAt - start, performance.now() - firstAt, usage);
  return { prompt_ids: promptIds, ids, text, finish_reason: finishReason, kv: usage.kv ?? null };
}

function encodePrompt(engine: EngineApi, prompt: string, chat: boolean): number[] {
  if (!chat) return engine.encode(prompt);
  return engine.encode(engine.applyChatTemplate([{ role: "user", content: prompt }]));
}

function reportSpeed(
  numPrompt: number,
  numGenerated: number,
  prefillMs: number,
  decodeMs: number,
  usage: UsageJson,
): void {
  const decoded = Math.max(0, numGenerated - 1);
  const rate = decodeMs > 0 ? (decoded / (decodeMs / 1000)).toFixed(2) : "-";
  const kv = usage.kv
    ? `; KV ${usage.kv.bytes_per_token.toFixed(1)} bytes/token ` +
      `(${usage.kv.bits_per_element.toFixed(2)} bits/element)`
    : "";
  console.error(
    `generate: ${numPrompt} prompt tokens to first token in ${prefillMs.toFixed(0)} ms, ` +
      `${decoded} more in ${decodeMs.toFixed(0)} ms (${rate} tok/s)${kv}`,
  );
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`generate: error: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
