/**
 * The GPU benchmark: what a real GPU makes of phasekv, in one run of under 5 minutes. It prints
 * the adapter, stops on a software adapter (unless --allow-software, which also shrinks every
 * size so lavapipe finishes), and writes a markdown report:
 *   - decode tokens/s of DeepSeek-R1-Distill-Qwen-1.5B's shape (28 layers, random weights) with
 *     f16 and int4 weights, against the memory-bandwidth limit (bandwidth / weight bytes per
 *     token; bandwidth: the copy kernel's, or --bandwidth-gbs from the datasheet);
 *   - attention time per layer for one decode row per KV dtype at 4k, 16k and 32k context;
 *   - batch scaling: decode tokens/s at 1, 4, 16 and 64 sequences.
 *
 *   bench/gpu.sh [--out FILE] [--bandwidth-gbs N] [--allow-software]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Gpu, openGpu } from "../src/gpu/device.ts";
import { KV_DTYPES } from "../src/kv/dtype.ts";
import type { BlockEntry } from "../src/kv/types.ts";
import type { ModelSpec } from "../src/model/spec.ts";
import type { WeightsDtype } from "../src/model/weights_dtype.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { GREEDY, type StepInput } from "../src/runner/types.ts";
import { copySeconds } from "./matmul_bandwidth.ts";
import { r1Shapes, randomCheckpoint } from "./random_checkpoint.ts";

/** Every size the bench uses; --allow-software picks the tiny set. */
interface Sizes {
  /** Vocabulary of the 1.5B shape (the tiny set shrinks it so lavapipe finishes). */
  vocab: number;
  decodeLayers: number;
  decodeTokens: number;
  contexts: number[];
  batches: number[];
  copyBytes: number;
  reps: number;
}

const FULL: Sizes = {
  vocab: 151936,
  decodeLayers: 28,
  decodeTokens: 32,
  contexts: [4096, 16384, 32768],
  batches: [1, 4, 16, 64],
  copyBytes: 256 * 2 ** 20,
  reps: 5,
};
const TINY: Sizes = {
  vocab: 4096,
  decodeLayers: 1,
  decodeTokens: 3,
  contexts: [64, 256],
  batches: [1, 4],
  copyBytes: 16 * 2 ** 20,
  reps: 1,
};
const BLOCK = 16;

function log(message: string) {
  console.error(`gpu bench: ${message}`);
}

async function makeRunner(
  gpu: Gpu,
  s: ModelSpec,
  dtype: WeightsDtype,
  seqs: number,
  poolBytes: number,
  blocksPerSeq: number,
) {
  return await ModelRunner.create(gpu, randomCheckpoint(s), {
    blockSize: BLOCK,
    kvPoolBytes: poolBytes,
    maxNumSeqs: seqs,
    maxRowsPerStep: seqs,
    maxBlocksPerSeq: blocksPerSeq,
    weightsDtype: dtype,
  });
}

/**
 * A table of `tokens` tokens: sealed blocks of `dtype` then the open f16 block (holding the
 * row being decoded), each sequence in its own run of the pool.
 */
function table(runner: ModelRunner, dtype: string, tokens: number, first: number): BlockEntry[] {
  const bb = runner.blockBytes(dtype);
  const full = Math.floor(tokens / BLOCK);
  const blocks: BlockEntry[] = [];
  for (let i = 0; i < full; i++) {
    blocks.push({ offset: first + i * bb, dtype, phase: "think", tokens: BLOCK });
  }
  blocks.push({
    offset: first + full * bb,
    dtype: "f16",
    phase: "think",
    tokens: tokens % BLOCK + 1,
  });
  return blocks;
}

/** Bytes of pool one sequence's table of `tokens` tokens at `dtype` spans. */
function tableBytes(runner: ModelRunner, dtype: string, tokens: number): number {
  return Math.floor(tokens / BLOCK) * runner.blockBytes(dtype) + runner.blockBytes("f16");
}

/** Seconds per decode step of `seqs` sequences at context `tokens` (KV `dtype`; contents random). */
async function stepSeconds(
  runner: ModelRunner,
  seqs: number,
  dtype: string,
  tokens: number,
  reps: number,
) {
  const span = tableBytes(runner, dtype, tokens);
  const input: StepInput = {
    seqs: Array.from({ length: seqs }, (_, s) => ({
      slot: s,
      blocks: table(runner, dtype, tokens, s * span),
      sample: true,
      sampling: GREEDY,
      sampleIndex: 0,
    })),
    rows: Array.from({ length: seqs }, (_, s) => ({ seq: s, position: tokens, token: 1 })),
  };
  await runner.step(input);
  const t0 = performance.now();
  const pending = Array.from({ length: reps }, () => runner.step(input));
  await Promise.all(pending);
  return (performance.now() - t0) / 1000 / reps;
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string", default: "reports/bench/gpu.md" },
      "bandwidth-gbs": { type: "string" },
      "allow-software": { type: "boolean", default: false },
    },
  });
  const t0 = performance.now();
  const gpu = await openGpu({ powerPreference: "high-performance" });
  const info = gpu.info;
  const adapter = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim();
  console.log(`adapter: ${adapter} (${gpu.profile.name} kernels, subgroups: ${gpu.hasSubgroups})`);
  if (gpu.profile.name === "software" && !values["allow-software"]) {
    console.log("a software adapter: no GPU to measure (--allow-software runs tiny sizes)");
    gpu.destroy();
    Deno.exit(2);
  }
  const sizes = gpu.profile.name === "software" ? TINY : FULL;
  const lines: string[] = [
    "# GPU bench",
    "",
    `Command: \`bench/gpu.sh${values["allow-software"] ? " --allow-software" : ""}\`, ${
      new Date().toISOString().slice(0, 16)
    } UTC.`,
    `Adapter: ${adapter} (${gpu.profile.name} kernels, subgroups ${gpu.hasSubgroups}).` +
    (sizes === TINY ? " Software adapter: tiny sizes, only to show the script runs." : ""),
    "",
  ];

  log("copy bandwidth");
  const copyGBs = (2 * sizes.copyBytes) / (await copySeconds(gpu, sizes.copyBytes, 10)) / 1e9;
  const bandwidth = values["bandwidth-gbs"] ? Number(values["bandwidth-gbs"]) : copyGBs;
  lines.push(
    `Copy kernel: ${copyGBs.toFixed(1)} GB/s (read + write). Bandwidth limit used: ${
      bandwidth.toFixed(1)
    } GB/s (${values["bandwidth-gbs"] ? "--bandwidth-gbs" : "the copy kernel's"}).`,
    "",
    `## Decode, batch 1 (R1-Distill-Qwen-1.5B shape, ${sizes.decodeLayers} layers, random weights)`,
    "",
    "| weights | weight MiB | tok/s | limit tok/s (bandwidth / weight bytes) | ratio |",
    "|---|---:|---:|---:|---:|",
  );
  const r1 = (layers: number): ModelSpec => ({ ...r1Shapes(layers), vocabSize: sizes.vocab });
  const shape = r1(sizes.decodeLayers);
  for (const dtype of ["f16", "int4"] as const) {
    log(`decode, ${dtype} weights`);
    const runner = await makeRunner(gpu, shape, dtype, 1, 64 * 2 ** 20, 256);
    try {
      const s = await stepSeconds(runner, 1, "f16", 16, sizes.decodeTokens);
      // a decode token reads every weight but the embedding table (one row of it)
      const bytes = runner.weightBytes - shape.vocabSize * shape.hiddenSize * 2;
      const limit = (bandwidth * 1e9) / bytes;
      lines.push(
        `| ${dtype} | ${(runner.weightBytes / 2 ** 20).toFixed(0)} | ${(1 / s).toFixed(2)} | ${
          limit.toFixed(1)
        } | ${((1 / s) / limit).toFixed(2)} |`,
      );
    } finally {
      runner.destroy();
    }
  }

  const attnShape = r1(1);
  const maxContext = Math.max(...sizes.contexts);
  lines.push(
    "",
    "## Attention, one decode row per layer (12 q heads, 2 KV heads, head_dim 128)",
    "",
    "Time of a 1-layer decode step at the context minus the same step at 16 tokens.",
    "",
    `| KV dtype | ${sizes.contexts.map((c) => `${c} tokens ms`).join(" | ")} |`,
    `|---|${sizes.contexts.map(() => "---:").join("|")}|`,
  );
  {
    const pool = Math.ceil((maxContext / BLOCK + 2) * 2 * 2 * 128 * BLOCK * 2 / 16) * 16;
    const runner = await makeRunner(gpu, attnShape, "int4", 1, pool, maxContext / BLOCK + 2);
    try {
      const base = await stepSeconds(runner, 1, "f16", 16, sizes.reps);
      for (const d of KV_DTYPES) {
        log(`attention, ${d.name} KV`);
        const cells: string[] = [];
        for (const c of sizes.contexts) {
          const s = await stepSeconds(runner, 1, d.name, c, sizes.reps);
          cells.push(((s - base) * 1000).toFixed(2));
        }
        lines.push(`| ${d.name} | ${cells.join(" | ")} |`);
      }
    } finally {
      runner.destroy();
    }
  }

  lines.push(
    "",
    `## Batch scaling (R1-Distill-Qwen-1.5B shape, 2 layers, int4 weights, f16 KV at ${
      sizes === TINY ? 64 : 512
    } tokens)`,
    "",
    "| sequences | step ms | tok/s | vs batch 1 |",
    "|---:|---:|---:|---:|",
  );
  {
    const maxB = Math.max(...sizes.batches);
    const ctx = sizes === TINY ? 64 : 512;
    const runner = await makeRunner(gpu, r1(2), "int4", maxB, 64 * 2 ** 20, ctx / BLOCK + 2);
    try {
      let one = 0;
      for (const b of sizes.batches) {
        log(`batch ${b}`);
        const s = await stepSeconds(runner, b, "f16", ctx, sizes.reps);
        if (b === 1) one = 1 / s;
        lines.push(
          `| ${b} | ${(s * 1000).toFixed(1)} | ${(b / s).toFixed(1)} | ${
            ((b / s) / one).toFixed(2)
          } |`,
        );
      }
    } finally {
      runner.destroy();
    }
  }
  gpu.destroy();
  lines.push("", `Total time: ${((performance.now() - t0) / 1000).toFixed(0)} s.`, "");
  const report = lines.join("\n");
  await Deno.writeTextFile(values.out!, report);
  console.log(report);
  log(`wrote ${values.out}`);
}

if (import.meta.main) await main();
