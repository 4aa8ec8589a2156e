/**
 * Aggregate decode throughput of the real engine (Worker, GPU runner) as concurrency grows, for
 * a tiny model (stories260k, or a written tiny checkpoint without it) and for a 2-layer model
 * with the layer shapes of DeepSeek-R1-Distill-Qwen-1.5B (random f16 weights written to a temp
 * folder), as ratios to one sequence measured in the same run; time to first token and
 * inter-token latency; and synchronous readback (pipelineDepth 1) against the pipelined default
 * (tiny model; each of its load points is the median of --reps runs, depths interleaved).
 *
 *   deno task bench:throughput [--json PATH] [--tiny-tokens N] [--big-tokens N]
 *                              [--big-concurrency 1,4] [--skip-big] [--reps N]
 *
 * Prints tables on stdout, progress on stderr, and writes JSON to PATH
 * (default bench/results/throughput.json).
 * @module
 */
import { flag, parseFlags, usageText } from "../src/config/flag_parser.ts";
import { text, toggle } from "../src/config/flags.ts";
import { createEngine } from "../src/engine/engine.ts";
import { DEFAULT_ENGINE_CONFIG } from "../src/engine/create_core.ts";
import type { EngineApi } from "../src/engine/types.ts";
import {
  makeTinyCheckpoint,
  type TinyCheckpointOptions,
} from "../tests/helpers/tiny_checkpoint.ts";
import { type LoadResult, runLoad } from "./load_run.ts";

const STORIES = new URL("../../shared/models/stories260k", import.meta.url).pathname;

/** DeepSeek-R1-Distill-Qwen-1.5B's layer shapes, 2 of its 28 layers. */
const R1_SHAPES: TinyCheckpointOptions = {
  arch: "qwen2",
  dtype: "F16",
  hiddenSize: 1536,
  intermediateSize: 8960,
  numLayers: 2,
  numHeads: 12,
  numKvHeads: 2,
  headDim: 128,
  vocabSize: 151936,
  maxPositionEmbeddings: 512,
  weightStd: 0.02,
};

interface ModelCase {
  name: string;
  dir: string;
  vocab: number;
  /** Prompt tokens per request (every prompt row costs as much as a decode row). */
  promptLength: number;
  tokens: number;
  concurrency: number[];
  /** Pipeline depths measured (the first is the default, the baseline of the readback ratio). */
  depths: number[];
}

interface CaseResult {
  model: string;
  promptLength: number;
  pipelineDepth: number;
  loads: LoadResult[];
}

const log = (msg: string) => console.error(msg);

async function tinyModel(): Promise<{ dir: string; vocab: number; temp: boolean }> {
  const has = await Deno.stat(`${STORIES}/model.safetensors`).then(() => true, () => false);
  if (has) return { dir: STORIES, vocab: 512, temp: false };
  log("stories260k not found: writing a tiny checkpoint");
  return { dir: await makeTinyCheckpoint({ vocabSize: 512 }), vocab: 512, temp: true };
}

/** Median-throughput result of `runs` (the reps of one load point). */
function median(runs: LoadResult[]): LoadResult {
  const sorted = [...runs].sort((a, b) => a.decodeTokensPerS - b.decodeTokensPerS);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Every load point of `c` at every pipeline depth, one engine per depth, alternating depths
 * within each rep so that load from other processes on this box falls on both alike.
 */
async function measure(c: ModelCase, reps: number): Promise<CaseResult[]> {
  const engines: EngineApi[] = [];
  try {
    for (const depth of c.depths) {
      log(`${c.name}: starting the engine (pipelineDepth ${depth})`);
      const engine = await createEngine({
        model: c.dir,
        maxNumSeqs: Math.max(...c.concurrency),
        pipelineDepth: depth,
      });
      engines.push(engine);
      // first steps pay shader compilation and first-touch costs
      await runLoad(engine, {
        concurrency: 1,
        maxTokens: 2,
        promptLength: c.promptLength,
        vocab: c.vocab,
      });
    }
    const runs = c.depths.map(() => c.concurrency.map((): LoadResult[] => []));
    for (const [k, concurrency] of c.concurrency.entries()) {
      for (let rep = 0; rep < reps; rep++) {
        for (const [d, engine] of engines.entries()) {
          log(
            `  depth ${c.depths[d]}: ${concurrency} sequences × ${c.tokens} tokens (rep ${
              rep + 1
            })`,
          );
          const r = await runLoad(engine, {
            concurrency,
            maxTokens: c.tokens,
            promptLength: c.promptLength,
            vocab: c.vocab,
          });
          log(`    ${r.decodeTokensPerS.toFixed(2)} decode tok/s, ${r.wallS.toFixed(1)} s`);
          runs[d][k].push(r);
        }
      }
    }
    return c.depths.map((depth, d) => ({
      model: c.name,
      promptLength: c.promptLength,
      pipelineDepth: depth,
      loads: runs[d].map(median),
    }));
  } finally {
    for (const engine of engines) await engine.close();
  }
}

function printTables(results: CaseResult[], cases: ModelCase[]): void {
  const fmt = (v: number, d = 2) => Number.isFinite(v) ? v.toFixed(d) : "–";
  console.log(
    "| model | prompt | depth | seqs | tokens/seq | decode tok/s | ×1 seq | TTFT p50/p99 ms | ITL p50/p99 ms |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    const base = r.loads.find((l) => l.concurrency === 1)?.decodeTokensPerS ?? NaN;
    for (const l of r.loads) {
      console.log(
        `| ${r.model} | ${r.promptLength} | ${r.pipelineDepth} | ${l.concurrency} | ` +
          `${l.tokensPerSeq} | ` +
          `${fmt(l.decodeTokensPerS)} | ${fmt(l.decodeTokensPerS / base)} | ` +
          `${fmt(l.ttftMs.p50, 0)} / ${fmt(l.ttftMs.p99, 0)} | ${fmt(l.itlMs.p50, 0)} / ${
            fmt(l.itlMs.p99, 0)
          } |`,
      );
    }
  }
  console.log("\n| model | seqs | pipelined / synchronous decode tok/s |");
  console.log("|---|---:|---:|");
  for (const c of cases.filter((c) => c.depths.length > 1)) {
    const [piped, sync] = c.depths.map((d) =>
      results.find((r) => r.model === c.name && r.pipelineDepth === d)!
    );
    for (const l of piped.loads) {
      const s = sync.loads.find((x) => x.concurrency === l.concurrency);
      if (s) {
        console.log(
          `| ${c.name} | ${l.concurrency} | ${fmt(l.decodeTokensPerS / s.decodeTokensPerS)} |`,
        );
      }
    }
  }
}

const FLAGS = {
  json: flag(text.default("bench/results/throughput.json"), "where the JSON result goes", {
    value: "FILE",
  }),
  "tiny-tokens": flag(text.default("24"), "tokens per sequence on the tiny model", { value: "N" }),
  "big-tokens": flag(text.default("3"), "tokens per sequence on the 1.5B shapes", { value: "N" }),
  // each 1.5B-shaped row costs seconds here (compute-bound): 16 sequences take minutes
  "big-concurrency": flag(text.default("1,4"), "concurrency list on the 1.5B shapes", {
    value: "LIST",
  }),
  "skip-big": flag(toggle, "leave out the 1.5B-shaped model"),
  reps: flag(text.default("2"), "repetitions of each row", { value: "N" }),
};
const ABOUT = "Aggregate decode tokens/s as concurrency grows, TTFT/ITL, pipelined vs synchronous.";

async function main(): Promise<void> {
  const values = parseFlags(FLAGS, Deno.args);
  if (!values) return console.log(usageText("deno task bench:throughput [options]", FLAGS, ABOUT));
  const tiny = await tinyModel();
  const defaultDepth = DEFAULT_ENGINE_CONFIG.pipelineDepth;
  const cases: ModelCase[] = [{
    name: tiny.temp ? "tiny (written)" : "stories260k",
    dir: tiny.dir,
    vocab: tiny.vocab,
    promptLength: 8,
    tokens: Number(values.tinyTokens),
    concurrency: [1, 4, 16, 64],
    depths: [defaultDepth, 1],
  }];
  let bigDir: string | null = null;
  if (!values.skipBig) {
    log("writing the R1-Distill-Qwen-1.5B-shaped checkpoint (2 layers, f16, random)");
    bigDir = await makeTinyCheckpoint(R1_SHAPES);
    cases.push({
      name: "R1-1.5B shapes, 2 layers",
      dir: bigDir,
      vocab: R1_SHAPES.vocabSize!,
      promptLength: 2,
      tokens: Number(values.bigTokens),
      concurrency: values.bigConcurrency.split(",").map(Number),
      depths: [defaultDepth],
    });
  }
  const results: CaseResult[] = [];
  try {
    for (const c of cases) {
      // the big model's steps take seconds: one rep, and noise matters less there
      const reps = c.depths.length > 1 ? Number(values.reps) : 1;
      results.push(...await measure(c, reps));
    }
  } finally {
    if (bigDir) await Deno.remove(bigDir, { recursive: true });
    if (tiny.temp) await Deno.remove(tiny.dir, { recursive: true });
  }
  printTables(results, cases);
  const out = { date: new Date().toISOString(), results };
  await Deno.mkdir(new URL(".", `file://${Deno.cwd()}/${values.json}`), { recursive: true });
  await Deno.writeTextFile(values.json, JSON.stringify(out, null, 2) + "\n");
  log(`wrote ${values.json}`);
}

if (import.meta.main) await main();
