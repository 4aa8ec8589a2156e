/**
 * Decode throughput at batch 1 on this adapter, for a tiny model and for a model with the real
 * layer shapes of DeepSeek-R1-Distill-Qwen-1.5B (2 of its 28 layers, random f16 weights built in
 * memory), plus the matmul kernel's weight bandwidth as a fraction of a plain copy kernel's.
 *
 *   deno task bench:decode [--json] [--tokens N]   (N: decode tokens of the 1.5B-shaped model)
 *
 * Prints a table on stdout, progress on stderr, and writes bench/results/decode.json.
 * @module
 */
import { flag, parseFlags, usageText } from "../src/config/flag_parser.ts";
import { integer, toggle } from "../src/config/flags.ts";
import { type Gpu, openGpu } from "../src/gpu/device.ts";
import { createBuffer } from "../src/gpu/buffers.ts";
import { countSlot, createCounts, dispatchLinear, writeCount } from "../src/gpu/dispatch.ts";
import { uploadF16Matrix } from "../src/gpu/row_split.ts";
import type { HostTensor, LoadedCheckpoint, ModelSpec } from "../src/model/spec.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { MatmulOp } from "../src/runner/ops/matmul.ts";
import { generateOne } from "../src/runner/single_sequence.ts";
import { GREEDY } from "../src/runner/types.ts";

const TINY: ModelSpec = spec({
  arch: "llama",
  hiddenSize: 64,
  intermediateSize: 172,
  numLayers: 2,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 8,
  vocabSize: 512,
  qkvBias: false,
});
const R1_SHAPES: ModelSpec = spec({
  arch: "qwen2",
  hiddenSize: 1536,
  intermediateSize: 8960,
  numLayers: 2,
  numHeads: 12,
  numKvHeads: 2,
  headDim: 128,
  vocabSize: 151936,
  qkvBias: true,
});
const PROMPT = [1, 2, 3, 4];

function spec(s: Partial<ModelSpec>): ModelSpec {
  return {
    arch: "llama",
    hiddenSize: 0,
    intermediateSize: 0,
    numLayers: 0,
    numHeads: 0,
    numKvHeads: 0,
    headDim: 0,
    vocabSize: 0,
    maxPositionEmbeddings: 4096,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    tieWordEmbeddings: false,
    qkvBias: false,
    qkNorm: false,
    bosTokenId: null,
    eosTokenIds: [],
    ...s,
  };
}

// Small random f16 values (|x| < 0.05), tiled from a 1 MiB block so gigabytes build in ms.
const RANDOM_F16 = (() => {
  const out = new Uint16Array(1 << 19);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = 0x2000 | (s >>> 22) | ((s & 1) << 15);
  }
  return out;
})();

function randomTensor(name: string, shape: number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const bits = new Uint16Array(n);
  for (let at = 0; at < n; at += RANDOM_F16.length) {
    bits.set(RANDOM_F16.subarray(0, Math.min(RANDOM_F16.length, n - at)), at);
  }
  return { name, dtype: "F16", shape, bytes: new Uint8Array(bits.buffer) };
}

function randomCheckpoint(s: ModelSpec): LoadedCheckpoint {
  const t = new Map<string, HostTensor>();
  const add = (name: string, shape: number[]) => t.set(name, randomTensor(name, shape));
  const [h, q, kv] = [s.hiddenSize, s.numHeads * s.headDim, s.numKvHeads * s.headDim];
  add("model.embed_tokens.weight", [s.vocabSize, h]);
  add("lm_head.weight", [s.vocabSize, h]);
  add("model.norm.weight", [h]);
  for (let l = 0; l < s.numLayers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [h]);
    add(`${p}.post_attention_layernorm.weight`, [h]);
    add(`${p}.self_attn.q_proj.weight`, [q, h]);
    add(`${p}.self_attn.k_proj.weight`, [kv, h]);
    add(`${p}.self_attn.v_proj.weight`, [kv, h]);
    add(`${p}.self_attn.o_proj.weight`, [h, q]);
    if (s.qkvBias) {
      add(`${p}.self_attn.q_proj.bias`, [q]);
      add(`${p}.self_attn.k_proj.bias`, [kv]);
      add(`${p}.self_attn.v_proj.bias`, [kv]);
    }
    add(`${p}.mlp.gate_proj.weight`, [s.intermediateSize, h]);
    add(`${p}.mlp.up_proj.weight`, [s.intermediateSize, h]);
    add(`${p}.mlp.down_proj.weight`, [h, s.intermediateSize]);
  }
  return { dir: "(in memory)", spec: s, tensors: t };
}

interface DecodeRow {
  model: string;
  weightMiB: number;
  prefillMs: number;
  decodeTokens: number;
  tokensPerSecond: number;
}

async function benchDecode(
  gpu: Gpu,
  name: string,
  s: ModelSpec,
  tokens: number,
): Promise<DecodeRow> {
  console.error(`building ${name}`);
  const ckpt = randomCheckpoint(s);
  const weightBytes = [...ckpt.tensors.values()].reduce((n, t) => n + t.bytes.length, 0);
  const runner = await ModelRunner.create(gpu, ckpt, {
    kvPoolBytes: 2 * s.numKvHeads * s.headDim * 2 * 256,
    maxNumSeqs: 1,
    maxRowsPerStep: PROMPT.length,
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
    return {
      model: name,
      weightMiB: Math.round(weightBytes / 2 ** 20),
      prefillMs: Math.round(r.prefillMs),
      decodeTokens,
      tokensPerSecond: decodeTokens / (r.decodeMs / 1000),
    };
  } finally {
    runner.destroy();
  }
}

/** Seconds per run of `encode`, from `reps` runs in one pass (amortising the ~10 ms wait). */
async function timePass(gpu: Gpu, reps: number, encode: (pass: GPUComputePassEncoder) => void) {
  const run = async (n: number) => {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) encode(pass);
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / 1000;
  };
  await run(1);
  return (await run(reps)) / reps;
}

async function benchBandwidth(gpu: Gpu) {
  console.error("measuring matmul and copy bandwidth (8960 x 1536 f16, batch 1)");
  const [n, k] = [8960, 1536];
  const matrix = uploadF16Matrix(
    gpu.device,
    "w",
    new Uint16Array(n * k).fill(0x3c00),
    n,
    k,
    gpu.maxBindingBytes,
  );
  const op = await MatmulOp.create(gpu, matrix, { outStride: n });
  const x = createBuffer(gpu.device, "x", k * 4);
  const y = createBuffer(gpu.device, "y", n * 4);
  const counts = createCounts(gpu.device, "count", 1);
  writeCount(gpu.device, counts, 0, 1);
  const weightBytes = n * k * 2;
  const matmulS = await timePass(gpu, 20, (p) => op.encode(p, x, y, null, countSlot(counts, 0), 1));

  const words = weightBytes / 16;
  const wg = gpu.profile.elementwise;
  const copy = await gpu.kernels.pipeline(["copy"], "main", { WG: wg, N: words });
  const src = createBuffer(gpu.device, "src", weightBytes);
  const dst = createBuffer(gpu.device, "dst", weightBytes);
  const group = gpu.kernels.bindGroup(copy, [src, dst]);
  const copyS = await timePass(gpu, 20, (p) => {
    p.setPipeline(copy);
    p.setBindGroup(0, group);
    dispatchLinear(p, Math.ceil(words / wg));
  });
  for (const b of [x, y, src, dst, ...matrix.parts.map((q) => q.buffer)]) b.destroy();
  // The copy moves its bytes twice (read and write); the matmul reads its weights once.
  const matmulGBs = weightBytes / matmulS / 1e9;
  const copyGBs = (2 * weightBytes) / copyS / 1e9;
  return { matmulGBs, copyGBs, ratio: matmulGBs / copyGBs };
}

const FLAGS = {
  tokens: flag(integer(1).default(6), "decode steps timed on the 1.5B-shaped model", {
    value: "N",
  }),
  json: flag(toggle, "print the result as JSON on stdout"),
};
const ABOUT = "Decode speed on a tiny model and 1.5B shapes, and matmul bandwidth against a copy.";

async function main() {
  const values = parseFlags(FLAGS, Deno.args);
  if (!values) return console.log(usageText("deno task bench:decode [options]", FLAGS, ABOUT));
  const tokens = values.tokens;
  const gpu = await openGpu();
  const adapter = `${gpu.info.description || gpu.info.vendor} (${gpu.profile.name} kernels)`;
  console.error(`adapter: ${adapter}`);
  const rows = [
    await benchDecode(gpu, "tiny (llama, 64 hidden, 2 layers)", TINY, 64),
    await benchDecode(gpu, "R1-Distill-Qwen-1.5B shapes, 2 of 28 layers", R1_SHAPES, tokens),
  ];
  const bandwidth = await benchBandwidth(gpu);
  gpu.destroy();
  const result = { adapter, date: new Date().toISOString(), decode: rows, bandwidth };
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(
    new URL("./results/decode.json", import.meta.url),
    JSON.stringify(result, null, 2) + "\n",
  );
  if (values.json) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(`adapter: ${adapter}\n`);
  console.log(`| model | weights MiB | prefill ${PROMPT.length} tok ms | decode tokens | tok/s |`);
  console.log("|---|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.model} | ${r.weightMiB} | ${r.prefillMs} | ${r.decodeTokens} | ${
        r.tokensPerSecond.toFixed(2)
      } |`,
    );
  }
  console.log("\n| kernel | GB/s |\n|---|---:|");
  console.log(`| matmul f16 (weight bytes read) | ${bandwidth.matmulGBs.toFixed(2)} |`);
  console.log(`| copy (bytes read + written) | ${bandwidth.copyGBs.toFixed(2)} |`);
  console.log(`| matmul / copy | ${bandwidth.ratio.toFixed(2)} |`);
}

if (import.meta.main) await main();
