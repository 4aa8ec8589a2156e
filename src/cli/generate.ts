/**
 * `deno task generate`: one prompt through the GPU runner, text on stdout, progress on stderr.
 *
 *   deno task generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--chat]
 *     [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--seed S] [--json]
 * @module
 */
import { parseArgs } from "node:util";
import { openGpu } from "../gpu/device.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { loadTokenizer, type Tokenizer } from "../model/tokenizer.ts";
import { ChatTemplate } from "../model/chat_template.ts";
import { f16BlockBytes } from "../runner/kv_layout.ts";
import { ModelRunner } from "../runner/model_runner.ts";
import { generateOne } from "../runner/single_sequence.ts";

const MAX_ROWS_PER_STEP = 256;
const BLOCK_SIZE = 16;

const USAGE =
  "usage: deno task generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--chat] " +
  "[--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--seed S] [--json]";

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      prompt: { type: "string" },
      "prompt-ids": { type: "string" },
      chat: { type: "boolean", default: false },
      "max-tokens": { type: "string", default: "64" },
      temperature: { type: "string", default: "0" },
      "top-p": { type: "string", default: "1" },
      "top-k": { type: "string", default: "0" },
      "min-p": { type: "string", default: "0" },
      seed: { type: "string", default: "0" },
      json: { type: "boolean", default: false },
    },
  });
  if (!v.model || (v.prompt === undefined) === (v["prompt-ids"] === undefined)) {
    console.error(USAGE);
    return 2;
  }
  const log = (s: string) => console.error(s);
  const ckpt = await loadCheckpoint(v.model, {
    onProgress: (done, total) =>
      Deno.stderr.writeSync(new TextEncoder().encode(
        `\rloading weights ${(done / 2 ** 20).toFixed(0)}/${(total / 2 ** 20).toFixed(0)} MiB`,
      )),
  });
  log("");
  // With --prompt-ids a model without a tokenizer still runs; the output is then ids only.
  const tokenizer = await loadTokenizer(v.model).catch((e) => {
    if (v.prompt !== undefined) throw e;
    return null;
  });
  const promptIds = v["prompt-ids"] !== undefined
    ? v["prompt-ids"].split(",").map((s) => parseIntStrict(s, "--prompt-ids"))
    : encodePrompt(tokenizer!, v.prompt!, v.chat!);
  const maxTokens = parseIntStrict(v["max-tokens"]!, "--max-tokens");
  const spec = ckpt.spec;
  if (promptIds.length + maxTokens > spec.maxPositionEmbeddings) {
    throw new RangeError(
      `Prompt (${promptIds.length}) + --max-tokens (${maxTokens}) exceeds the model's ` +
        `${spec.maxPositionEmbeddings} positions`,
    );
  }
  const gpu = await openGpu();
  log(`adapter: ${gpu.info.description || gpu.info.vendor} (${gpu.profile.name} kernels)`);
  const blockBytes = f16BlockBytes({
    numKvHeads: spec.numKvHeads,
    blockSize: BLOCK_SIZE,
    headDim: spec.headDim,
  });
  const runner = await ModelRunner.create(gpu, ckpt, {
    blockSize: BLOCK_SIZE,
    kvPoolBytes: Math.ceil((promptIds.length + maxTokens) / BLOCK_SIZE) * blockBytes,
    maxNumSeqs: 1,
    maxRowsPerStep: MAX_ROWS_PER_STEP,
    onProgress: (done, total) =>
      Deno.stderr.writeSync(new TextEncoder().encode(`\ruploading ${done}/${total}`)),
  });
  log("");
  let shown = "";
  const ids: number[] = [];
  const result = await generateOne(runner, promptIds, {
    maxTokens,
    maxRowsPerStep: MAX_ROWS_PER_STEP,
    stopIds: spec.eosTokenIds,
    sampling: {
      temperature: Number(v.temperature),
      topK: parseIntStrict(v["top-k"]!, "--top-k"),
      topP: Number(v["top-p"]),
      minP: Number(v["min-p"]),
      seed: parseIntStrict(v.seed!, "--seed"),
    },
    onToken: (id) => {
      ids.push(id);
      if (!tokenizer) return;
      // Decoding the whole output each time keeps multi-token characters intact.
      const text = tokenizer.decode(ids, { skipSpecialTokens: true });
      Deno.stdout.writeSync(new TextEncoder().encode(text.slice(shown.length)));
      shown = text;
    },
  });
  runner.destroy();
  gpu.destroy();
  if (shown) console.log();
  const decodeTokens = Math.max(0, result.ids.length - 1);
  log(
    `\n${promptIds.length} prompt tokens in ${result.prefillMs.toFixed(0)} ms, ` +
      `${decodeTokens} more in ${result.decodeMs.toFixed(0)} ms ` +
      `(${(decodeTokens / (result.decodeMs / 1000) || 0).toFixed(2)} tok/s)`,
  );
  if (v.json) {
    console.log(JSON.stringify({ prompt_ids: promptIds, ids: result.ids, text: shown }));
  }
  return 0;
}

function encodePrompt(tokenizer: Tokenizer, prompt: string, chat: boolean): number[] {
  if (!chat) return tokenizer.encode(prompt);
  const text = ChatTemplate.fromTokenizer(tokenizer).render([{ role: "user", content: prompt }]);
  return tokenizer.encode(text, { addSpecialTokens: false });
}

function parseIntStrict(s: string, flag: string): number {
  const n = Number(s.trim());
  if (!Number.isInteger(n)) throw new RangeError(`${flag} expects integers, got "${s}"`);
  return n;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
