/**
 * Decode throughput at batch 1 on this adapter, for a tiny model and for models with the real
 * layer shapes of DeepSeek-R1-Distill-Qwen-1.5B (random weights built in memory): 2 of its 28
 * layers in every weight dtype, and all 28 layers with int4 weights. Plus the matmul kernel's
 * weight bandwidth per dtype as a fraction of a plain copy kernel's.
 *
 *   deno task bench:decode [--json] [--tokens N] [--skip-full]
 *     N: decode tokens of the 1.5B-shaped models; --skip-full leaves out the 28-layer run
 *
 * Prints a table on stdout (with --json, the last line is one JSON object with
 * `matmul_copy_ratio` (f16) and `rows: [{model, weights_dtype, tok_s, ...}]`), progress on
 * stderr, and writes bench/results/decode.json.
 * @module
 */
import { parseArgs } from "node:util";
import { type Gpu, openGpu } from "../src/gpu/device.ts";
import type { ModelSpec } from "../src/model/spec.ts";
import type { WeightsDtype } from "../src/model/weights_dtype.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { generateOne } from "../src/runner/single_sequence.ts";
import { GREEDY } from "../src/runner/types.ts";
import { benchBandwidth } from "./matmul_bandwidth.ts";
import { r1Shapes, randomCheckpoint, spec } from "./random_checkpoint.ts";

const USAGE = `Usage: deno task bench:decode [options]

Decode tokens/s per weight dtype (the tiny model, R1-Distill-Qwen-1.5B shapes at 2 and 28 layers)
and the matmul's weight bandwidth against a copy kernel's, on the adapter at hand.

  --tokens N     tokens decoded per row (default 6)
  --skip-full    skip the 28-layer 1.5B shape
  --json         print one JSON object on the last stdout line
  -h, --help     show this help`;

const TINY: ModelSpec = spec({
  hiddenSize: 64,
  intermediateSize: 172,
  numLayers: 2,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 8,
  vocabSize: 512,
});
const PROMPT = [1, 2, 3, 4];

/** One decode measurement. */
export interface DecodeRow {
  model: string;
  weights_dtype: WeightsDtype;
  /** Bytes of the weights on the GPU, scales included. */
  weight_mib: number;
  prefill_ms: number;
  decode_tokens: number;
  tok_s: number;
}

/** Decodes `tokens` tokens greedily after a 4-token prompt and times it. */
export async function benchDecode(
  gpu: Gpu,
  name: string,
  s: ModelSpec,
  dtype: WeightsDtype,
  tokens: number,
): Promise<DecodeRow> {
  console.error(`building ${name} (${dtype} weights)`);
  const runner = await ModelRunner.create(gpu, randomCheckpoint(s), {
    kvPoolBytes: 2 * s.numKvHeads * s.headDim * 2 * 256,
    maxNumSeqs: 1,
    maxRowsPerStep: PROMPT.length,
    weightsDtype: dtype,
    onProgress: (done, total) => console.error(`  uploaded ${done}/${total}`),
  });
  try {
    console.error(`  decoding ${tokens} tokens`);
    const r = await generateOne(runner, PROMPT, {
      maxTokens: tokens,
      maxRowsPerStep: PROMPT.length,
      sampling: GREEDY,
    });
    const decodeTokens = r.ids.length - 1;
    const row: DecodeRow = {
      model: name,
      weights_dtype: dtype,
      weight_mib: Math.round(runner.weightBytes / 2 ** 20),
      prefill_ms: Math.round(r.prefillMs),
      decode_tokens: decodeTokens,
      tok_s: decodeTokens / (r.decodeMs / 1000),
    };
    // on stderr as it lands: a long run cut short still shows what it measured
    console.error(`  ${JSON.stringify(row)}`);
    return row;
  } finally {
    runner.destroy();
  }
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      json: { type: "boolean", default: false },
      tokens: { type: "string", default: "6" },
      "skip-full": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const tokens = Number(values.tokens);
  const gpu = await openGpu();
  const adapter = `${gpu.info.description || gpu.info.vendor} (${gpu.profile.name} kernels)`;
  console.error(`adapter: ${adapter}`);
  const two = "R1-Distill-Qwen-1.5B shapes, 2 of 28 layers";
  const rows = [await benchDecode(gpu, "tiny (llama, 64 hidden, 2 layers)", TINY, "f16", 64)];
  for (const dtype of ["f16", "int8", "int4"] as const) {
    rows.push(await benchDecode(gpu, two, r1Shapes(2), dtype, tokens));
  }
  if (!values["skip-full"]) {
    rows.push(
      await benchDecode(
        gpu,
        "R1-Distill-Qwen-1.5B shapes, 28 layers",
        r1Shapes(28),
        "int4",
        tokens,
      ),
    );
  }
  const bandwidth = await benchBandwidth(gpu, ["f16", "int8", "int4"]);
  gpu.destroy();
  const f16 = bandwidth[0];
  const result = {
    adapter,
    date: new Date().toISOString(),
    matmul_copy_ratio: f16.ratio,
    matmul_gb_s: f16.matmulGBs,
    copy_gb_s: f16.copyGBs,
    rows,
    bandwidth,
  };
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(
    new URL("./results/decode.json", import.meta.url),
    JSON.stringify(result, null, 2) + "\n",
  );
  console.log(`adapter: ${adapter}\n`);
  console.log(
    `| model | weights | weights MiB | prefill ${PROMPT.length} tok ms | decode tokens | tok/s |`,
  );
  console.log("|---|---|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.model} | ${r.weights_dtype} | ${r.weight_mib} | ${r.prefill_ms} | ${r.decode_tokens} | ${
        r.tok_s.toFixed(2)
      } |`,
    );
  }
  console.log("\n| kernel (8960 x 1536, batch 1) | weight GB/s | copy GB/s | ratio | ms |");
  console.log("|---|---:|---:|---:|---:|");
  for (const b of bandwidth) {
    console.log(
      `| matmul ${b.dtype} | ${b.matmulGBs.toFixed(2)} | ${b.copyGBs.toFixed(2)} | ${
        b.ratio.toFixed(2)
      } | ${(b.matmulS * 1000).toFixed(1)} |`,
    );
  }
  console.log(
    "\nGB/s: weight bytes read (scales included) per second; copy: bytes read + written.",
  );
  if (values.json) console.log(JSON.stringify(result));
}

if (import.meta.main) await main();
