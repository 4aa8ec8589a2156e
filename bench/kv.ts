/**
 * `deno task bench:kv [--json] [--out DIR]`: what each KV dtype costs and how much it distorts
 * attention, in one run on the adapter at hand.
 *
 * - size rows: bits per element, bytes per token and ratio to f16 of every dtype and of phase
 *   mixes, for the KV shapes of R1-Distill-Qwen-1.5B, Qwen3-8B and the default model;
 * - distortion rows: attention KL (real queries) and attention-output relative error of every
 *   dtype on q/k/v captured from the default model and from stories260k, plain and rotated.
 *
 * Rows come from the producers in KV_ROW_PRODUCERS (a timing producer is one more entry).
 * Markdown tables go to stdout; `--json` prints every row as one JSON array on the last stdout
 * line; `--out DIR` also writes DIR/kv.md and DIR/kv.json (reports/bench/ is committed);
 * `--only size,distortion` runs some producers.
 * @module
 */
import { flag, FlagError, parseFlags, usageText } from "../src/config/flag_parser.ts";
import { integer, text, toggle } from "../src/config/flags.ts";
import { type AttentionRow, attentionTable, benchKvAttention } from "./kv_attention.ts";
import { captureTraces } from "./kv_capture.ts";
import { type DistortionRow, distortionRows } from "./kv_distortion.ts";
import { codecTable, distortionTable, type KvBenchRow, rowsOf, sizeTable } from "./kv_report.ts";
import {
  MIX_PAIRS,
  MIX_TRIPLES,
  PHASE_MIX,
  shapeOf,
  type SizeRow,
  sizeRows,
  TARGET_SHAPES,
  TRACE_RECENT_TOKENS,
  TRACE_TOKENS,
} from "./kv_size.ts";

const DEFAULT_MODEL = new URL("../models/phasekv-tiny-reasoner", import.meta.url).pathname;
const STORIES = new URL("../../shared/models/stories260k", import.meta.url).pathname;

/** What every row producer is given. */
export interface KvBenchContext {
  blockSize: number;
  /** Sequences captured per model for the distortion rows. */
  samples: number;
  /** Tokens generated per captured sequence at most. */
  maxTokens: number;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

/** Produces some of the rows of `bench:kv`. */
export type KvRowProducer = (ctx: KvBenchContext) => Promise<readonly KvBenchRow[]>;

/** Size rows of the target shapes and the default model. */
export const sizeProducer: KvRowProducer = async (ctx) => {
  const shapes = [...TARGET_SHAPES, await shapeOf("phasekv-tiny-reasoner", DEFAULT_MODEL)];
  return sizeRows(shapes, ctx.blockSize);
};

/** Distortion rows on q/k/v captured from the default model and stories260k. */
export const distortionProducer: KvRowProducer = async (ctx) => {
  const rows: DistortionRow[] = [];
  for (const [name, dir] of [["phasekv-tiny-reasoner", DEFAULT_MODEL], ["stories260k", STORIES]]) {
    ctx.log(`capturing ${ctx.samples} sequences of ${name}`);
    const traces = await captureTraces(dir, {
      samples: ctx.samples,
      maxTokens: ctx.maxTokens,
      seed: 7,
    });
    ctx.log(`sealing and measuring ${name} (${traces.map((t) => t.tokens).join(", ")} tokens)`);
    rows.push(...distortionRows({ name, traces }, ctx.blockSize));
  }
  return rows;
};

/** Paged-attention time per dtype against f16 on the R1-1.5B KV shape (bench/kv_attention.ts). */
export const attentionProducer: KvRowProducer = (ctx) => benchKvAttention({ log: ctx.log });

/** Every producer `bench:kv` runs, in order, by name (`--only` picks some). */
export const KV_ROW_PRODUCERS: Record<string, KvRowProducer> = {
  size: sizeProducer,
  distortion: distortionProducer,
  attention: attentionProducer,
};

/** The markdown report of a run's rows. */
export function renderKvReport(rows: readonly KvBenchRow[], ctx: KvBenchContext): string {
  const sizes = rowsOf<SizeRow>(rows, "size");
  const dist = rowsOf<DistortionRow>(rows, "distortion");
  const out: string[] = [
    "# bench:kv",
    "",
    `\`deno task bench:kv --out reports/bench\`: block size ${ctx.blockSize}, ` +
    `${ctx.samples} captured sequences per model (at most ${ctx.maxTokens} generated tokens each).`,
    "",
    "## Codecs (the README's table)",
    "",
    "Bits per element at head_dim 128 (R1-Distill-Qwen-1.5B) and 32 (the default model); " +
    "distortion on the default model with K, V and q rotated, as its engine keeps them.",
    "",
    codecTable(rows, {
      wideShape: "r1-distill-qwen-1.5b",
      defaultShape: "phasekv-tiny-reasoner",
      source: "phasekv-tiny-reasoner",
      space: "rotated",
    }),
    "",
    "## Size",
    "",
    `Mixes weight phases by ${
      Object.entries(PHASE_MIX).map(([p, s]) => `${p} ${Math.round(100 * s)}%`).join(", ")
    } of the tokens (think/answer pairs: ${
      MIX_PAIRS.map((p) => p.join("/")).join(", ")
    }; prompt/think/answer: ${MIX_TRIPLES.map((p) => p.join("/")).join(", ")}). ` +
    "Full blocks; every scale byte and pad counted. The 4k trace columns: a " +
    `${TRACE_TOKENS}-token trace (64 prompt tokens, 3/4 of the rest think, then answer) as ` +
    `the engine holds it at its end, the newest ${TRACE_RECENT_TOKENS} tokens and the open ` +
    `block f16 at ${ctx.blockSize}-token blocks, or at the window and block size a model's profile sets (` +
    (sizes.filter((r) => r.config === "f16" && r.trace_served !== null).map((r) =>
      `${r.shape}: ${r.trace_served}`
    ).join("; ") || "none here") +
    "), counted as `deno task calibrate` counts it.",
  ];
  for (const shape of [...new Set(sizes.map((r) => r.shape))]) {
    out.push("", `### ${shape}`, "", sizeTable(sizes, shape));
  }
  out.push(
    "",
    "## Distortion",
    "",
    "Mean over layers, query heads and up to 32 generated positions per sequence; the query's " +
      "own block stays f16 (the open block), every earlier block is sealed. `*` marks the space " +
      "the engine keeps this model's cache in (rotated when head_dim is a power of two of at " +
      "least 32, src/kv/rotation.ts). Captured with the runner's rotation off; the rotated " +
      "columns rotate q, k and v by the engine's randomized Hadamard transform first.",
  );
  for (const source of [...new Set(dist.map((r) => r.source))]) {
    const first = dist.find((r) => r.source === source)!;
    out.push(
      "",
      `### ${source} (${first.sequences} sequences, ${first.samples} samples per dtype)`,
      "",
      distortionTable(dist, source),
    );
  }
  const timing = rowsOf<AttentionRow>(rows, "attention");
  if (timing.length > 0) {
    out.push(
      "",
      "## Attention time",
      "",
      "Kernel-level paged attention over filled blocks, R1-Distill-Qwen-1.5B's KV shape (12 q " +
        "heads, 2 KV heads, head_dim 128), one layer; median of the repeats; each dtype's time " +
        "per decoded token against f16's in the same run, each on the kernel specialised to " +
        "its dtype (as a step whose tables hold that dtype alone runs it). CPU time is this " +
        "process's (a software adapter runs in it): the steady figure on a shared machine.",
      "",
      attentionTable(timing),
    );
  }
  return out.join("\n") + "\n";
}

if (import.meta.main) {
  const FLAGS = {
    json: flag(toggle, "print the rows as JSON on stdout"),
    out: flag(text.optional(), "folder for kv.md and kv.json", { value: "DIR" }),
    "block-size": flag(integer(1).default(16), "tokens per KV block", { value: "N" }),
    samples: flag(integer(1).default(8), "captured traces per model", { value: "N" }),
    "max-tokens": flag(integer(1).default(96), "tokens generated per trace", { value: "N" }),
    only: flag(text.optional(), "comma list of row producers to run", { value: "LIST" }),
  };
  const usage = usageText("deno task bench:kv [options]", FLAGS, "KV dtypes: size and distortion.");
  let args;
  try {
    args = parseFlags(FLAGS, Deno.args);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    console.error(`bench:kv: ${e.message}\n\n${usage}`);
    Deno.exit(2);
  }
  if (!args) {
    console.log(usage);
    Deno.exit(0);
  }
  const names = args.only?.split(",").map((s) => s.trim()) ?? Object.keys(KV_ROW_PRODUCERS);
  const unknown = names.filter((n) => !(n in KV_ROW_PRODUCERS));
  if (unknown.length > 0) {
    console.error(
      `bench:kv: --only ${unknown.join(",")}: known producers are ${
        Object.keys(KV_ROW_PRODUCERS).join(", ")
      }`,
    );
    Deno.exit(2);
  }
  const ctx: KvBenchContext = {
    blockSize: args.blockSize,
    samples: args.samples,
    maxTokens: args.maxTokens,
    log: (line) => console.error(`bench:kv: ${line}`),
  };
  for (const [k, v] of Object.entries(ctx)) {
    if (typeof v === "number" && !(Number.isInteger(v) && v > 0)) {
      console.error(`bench:kv: --${k} must be a positive integer`);
      Deno.exit(2);
    }
  }
  const rows: KvBenchRow[] = [];
  for (const name of names) rows.push(...await KV_ROW_PRODUCERS[name](ctx));
  const report = renderKvReport(rows, ctx);
  console.log(report);
  if (args.out) {
    await Deno.mkdir(args.out, { recursive: true });
    await Deno.writeTextFile(`${args.out}/kv.md`, report);
    await Deno.writeTextFile(`${args.out}/kv.json`, JSON.stringify(rows, null, 1) + "\n");
  }
  if (args.json) console.log(JSON.stringify(rows));
}
