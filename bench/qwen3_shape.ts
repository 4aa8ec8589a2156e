/**
 * A model with Qwen3-0.6B's real shapes and vocabulary, end to end through the engine: the bench
 * writes a checkpoint folder (Qwen3-0.6B's config.json, random f16 weights in model.safetensors,
 * Qwen3's real tokenizer from ../shared/fixtures/tokenizers/qwen3/), loads it as the server would,
 * prints the startup summary (weights, KV budget and how many tokens fit), prefills a 512-token
 * prompt and decodes at temperature 0.8 over the 151,936-token vocabulary.
 *
 *   deno run -A bench/qwen3_shape.ts [--weights-dtype f16|int8|int4] [--prompt-tokens 512]
 *     [--tokens 8] [--step-tokens N] [--json]
 *
 * --step-tokens: tokens per engine step (max_num_batched_tokens; default 64: lavapipe's loop
 * bound refuses attention over 512 rows at once, so the prompt is prefilled in chunks).
 *
 * Prints a table on stdout (with --json the last line is one JSON object), progress on stderr.
 * lavapipe needs minutes for it; it is a bench, not a test.
 * @module
 */
import { parseArgs } from "node:util";
import { createEngine } from "../src/engine/engine.ts";
import type { GenerateOutput } from "../src/engine/types.ts";
import type { ModelSpec } from "../src/model/spec.ts";
import { weightsDtypeSchema } from "../src/model/weights_dtype.ts";
import { randomTensor, spec, tensorShapes } from "./random_checkpoint.ts";

const TOKENIZER_DIR = new URL("../../shared/fixtures/tokenizers/qwen3/", import.meta.url);

/** Qwen3-0.6B's config.json (Hugging Face), the fields the loader reads. */
export const QWEN3_0_6B_CONFIG: Record<string, unknown> = {
  architectures: ["Qwen3ForCausalLM"],
  model_type: "qwen3",
  hidden_size: 1024,
  intermediate_size: 3072,
  num_hidden_layers: 28,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  head_dim: 128,
  vocab_size: 151936,
  max_position_embeddings: 40960,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_scaling: null,
  hidden_act: "silu",
  attention_bias: false,
  use_sliding_window: false,
  tie_word_embeddings: true,
  bos_token_id: 151643,
  eos_token_id: 151645,
  torch_dtype: "float16",
};

const QWEN3_SPEC: ModelSpec = spec({
  arch: "qwen3",
  hiddenSize: 1024,
  intermediateSize: 3072,
  numLayers: 28,
  numHeads: 16,
  numKvHeads: 8,
  headDim: 128,
  vocabSize: 151936,
  tieWordEmbeddings: true,
  qkNorm: true,
});

/** Writes model.safetensors of `s` with random f16 weights (norms 1), one tensor at a time. */
async function writeRandomSafetensors(path: string, s: ModelSpec): Promise<number> {
  const shapes = [...tensorShapes(s)];
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of shapes) {
    const bytes = 2 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: "F16", shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
    await file.write(len);
    await file.write(new TextEncoder().encode(json));
    for (const [name, shape] of shapes) {
      const t = randomTensor(name, shape);
      // RMSNorm weights of 1: activations keep their scale through 28 layers
      if (shape.length === 1) new Uint16Array(t.bytes.buffer).fill(0x3c00);
      for (let at = 0; at < t.bytes.length;) at += await file.write(t.bytes.subarray(at));
    }
  } finally {
    file.close();
  }
  return offset;
}

/** A prompt of exactly `n` ids from Qwen3's tokenizer (a long text, cut). */
function promptIds(encode: (text: string) => number[], n: number): number[] {
  const sentence = "The quick brown fox reasons step by step about 347 + 1286 and writes it down. ";
  const ids = encode(sentence.repeat(Math.ceil(n / 10)));
  if (ids.length < n) throw new RangeError(`the text gave only ${ids.length} tokens`);
  return ids.slice(0, n);
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "weights-dtype": { type: "string", default: "f16" },
      "prompt-tokens": { type: "string", default: "512" },
      tokens: { type: "string", default: "8" },
      "step-tokens": { type: "string", default: "64" },
      json: { type: "boolean", default: false },
    },
  });
  const weightsDtype = weightsDtypeSchema.parse(values["weights-dtype"]);
  const promptTokens = Number(values["prompt-tokens"]);
  const maxTokens = Number(values.tokens);
  const dir = await Deno.makeTempDir({ prefix: "qwen3-0.6b-shape-" });
  try {
    console.error(`writing ${dir}`);
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(QWEN3_0_6B_CONFIG, null, 2));
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      await Deno.copyFile(new URL(f, TOKENIZER_DIR), `${dir}/${f}`);
    }
    const fileBytes = await writeRandomSafetensors(`${dir}/model.safetensors`, QWEN3_SPEC);
    const t0 = performance.now();
    const engine = await createEngine({
      model: dir,
      inProcess: true,
      maxNumSeqs: 1,
      maxNumBatchedTokens: Number(values["step-tokens"]),
      weightsDtype,
      onProgress: (m) => console.error(`  ${m}`),
    });
    const loadS = (performance.now() - t0) / 1000;
    try {
      const stats = engine.stats();
      const summary = {
        model: "Qwen3-0.6B shapes (random weights, real tokenizer)",
        weights_dtype: weightsDtype,
        checkpoint_bytes: fileBytes,
        kv_budget_bytes: stats.kvBudgetBytes,
        kv_tokens_fit: stats.kvTokenCapacity,
        load_s: loadS,
      };
      console.error(`startup: ${JSON.stringify(summary)}`);
      const ids = promptIds((t) => engine.encode(t), promptTokens);
      console.error(`prefilling ${ids.length} tokens, then decoding ${maxTokens}`);
      const start = performance.now();
      let firstAt = 0;
      const outputs: GenerateOutput[] = [];
      const stream = engine.generate({
        promptIds: ids,
        maxTokens,
        sampling: { temperature: 0.8, seed: 1 },
        ignoreEos: true,
      });
      for await (const o of stream) {
        if (firstAt === 0 && o.tokenIds.length > 0) firstAt = performance.now();
        outputs.push(o);
      }
      const end = performance.now();
      const generated = outputs.flatMap((o) => o.tokenIds);
      const result = {
        ...summary,
        prompt_tokens: ids.length,
        generated_tokens: generated.length,
        prefill_s: (firstAt - start) / 1000,
        decode_tok_s: (generated.length - 1) / ((end - firstAt) / 1000),
        distinct_tokens: new Set(generated).size,
        max_token_id: Math.max(...generated),
        text: engine.decode(generated),
      };
      console.log(`| | |\n|---|---|`);
      for (const [k, v] of Object.entries(result)) console.log(`| ${k} | ${JSON.stringify(v)} |`);
      if (values.json) console.log(JSON.stringify(result));
    } finally {
      await engine.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
