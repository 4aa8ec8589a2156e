/**
 * Paged-attention time per KV dtype as a ratio to f16, kernel level: one layer's attention for
 * `batch` decode rows over filled blocks of one dtype, with the KV shape of
 * DeepSeek-R1-Distill-Qwen-1.5B (12 q heads, 2 KV heads, head_dim 128, blocks of 16). Each
 * figure is the median of `--repeats` timed submits, each running the op enough times to last
 * about `--min-ms`. Each dtype's blocks run the kernel specialised to that dtype, as a step
 * whose tables hold it alone does (AttentionOp.prepare); `--kernel all` runs the kernel that
 * decodes every dtype instead (a step before its specialised kernel is compiled).
 *
 *   deno run -A bench/kv_attention.ts [--json] [--repeats 5] [--contexts 1024,4096,16384,32768]
 *     [--batch-contexts 1024,4096] [--dtypes f16,int4] [--kernel dtype|all]
 *
 * Progress goes to stderr; with `--json` the last stdout line is the JSON array of rows.
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { type Gpu, openGpu } from "../src/gpu/device.ts";
import { createStorage, STORAGE_USAGE } from "../src/gpu/buffers.ts";
import { KV_DTYPES, type KvDtype } from "../src/kv/dtype.ts";
import type { KvLayout } from "../src/kv/layout.ts";
import { type AttentionBuffers, AttentionOp } from "../src/runner/ops/attention.ts";
import { type AttentionShape, qkvStride } from "../src/runner/ops/elementwise.ts";
import { ROW_WORDS, SEQ_WORDS, TABLE_WORDS } from "../src/runner/step_layout.ts";
import { encodeBlock } from "../tests/reference/kv_codec.ts";
import { randomBlock, seeded } from "../tests/reference/kv_data.ts";

/** The KV shape the rows are named after. */
export const SHAPE_NAME = "r1-distill-qwen-1.5b";
const SHAPE: AttentionShape = {
  numHeads: 12,
  numKvHeads: 2,
  headDim: 128,
  qkvStride: qkvStride(12, 2, 128),
};
const BLOCK_SIZE = 16;
/** Distinct encoded blocks per dtype; the pool repeats them (timing does not read values). */
const DISTINCT_BLOCKS = 64;

/** One timing row of `bench:kv`. */
export interface AttentionRow {
  kind: "attention";
  shape: string;
  dtype: string;
  nominal_bits: number;
  context: number;
  batch: number;
  time_ratio_to_f16: number;
  /** The f16 kernel's time per decoded token (one layer, ms): the ratio's denominator. */
  f16_ms_per_token: number;
  /** This dtype's time per decoded token (one layer, ms). */
  ms_per_token: number;
  /** CPU time of this process per decoded token (a software adapter runs in it; ms). */
  cpu_ms_per_token: number;
  /** The ratio in that CPU time: steadier than wall time on a shared machine. */
  cpu_ratio_to_f16: number;
  /** The kernel timed: specialised to the row's dtype ("dtype") or decoding every dtype ("all"). */
  kernel: AttentionKernel;
  /** The attention plan: parallel splits and sequential windows of the context. */
  splits: number;
  windows: number;
  repeats: number;
}

/** Which attention kernel a row times. */
export type AttentionKernel = "dtype" | "all";

/** What to measure. */
export interface AttentionBenchOptions {
  /** The kernel specialised to each dtype (default) or the one decoding every dtype. */
  kernel?: AttentionKernel;
  /** Contexts for one sequence. */
  contexts?: number[];
  /** Contexts for a batch of 16 sequences. */
  batchContexts?: number[];
  dtypes?: readonly KvDtype[];
  repeats?: number;
  /** Each timed submit runs the op enough times to last about this long. */
  minMs?: number;
  /** Workgroup lanes (default: the adapter profile's). */
  lanes?: number;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
  gpu?: Gpu;
}

const BATCH = 16;

/** Measures every (context, batch, dtype) and returns the rows, f16 first in each shape. */
export async function benchKvAttention(o: AttentionBenchOptions = {}): Promise<AttentionRow[]> {
  const contexts = o.contexts ?? [1024, 4096, 16384, 32768];
  const batchContexts = o.batchContexts ?? [1024, 4096];
  const f16 = KV_DTYPES.find((d) => d.kind === "f16")!;
  const dtypes = [f16, ...(o.dtypes ?? KV_DTYPES).filter((d) => d !== f16)];
  const repeats = o.repeats ?? 5;
  const kernel = o.kernel ?? "dtype";
  const log = o.log ?? ((s: string) => console.error(s));
  const gpu = o.gpu ?? await openGpu();
  const layout: KvLayout = { numKvHeads: SHAPE.numKvHeads, blockSize: BLOCK_SIZE, headDim: 128 };
  const op = await AttentionOp.create(gpu, SHAPE, {
    blockSize: BLOCK_SIZE,
    kvDecode: "kv_decode",
    lanes: o.lanes,
  });
  log(`kernel ${JSON.stringify(op.kernelShape)} on ${gpu.profile.name} profile (${kernel})`);
  if (kernel === "dtype") {
    for (const d of dtypes) {
      if (!await op.specialise([d.id])) throw new Error(`no attention kernel for ${d.name}`);
    }
  }
  const rows: AttentionRow[] = [];
  const cases = [
    ...contexts.map((context) => ({ context, batch: 1 })),
    ...batchContexts.map((context) => ({ context, batch: BATCH })),
  ];
  try {
    for (const { context, batch } of cases) {
      const plan = op.plan(batch, context);
      log(`context ${context} batch ${batch}: plan ${JSON.stringify(plan)}`);
      const timed = await timeShape(
        gpu,
        op,
        layout,
        dtypes,
        { context, batch, repeats, kernel },
        o.minMs,
      );
      const [f16Wall, f16Cpu] = timed[0];
      timed.forEach(([wall, cpu], i) => {
        const dtype = dtypes[i];
        const row: AttentionRow = {
          kind: "attention",
          shape: SHAPE_NAME,
          dtype: dtype.name,
          nominal_bits: dtype.meanBits,
          context,
          batch,
          time_ratio_to_f16: wall / f16Wall,
          f16_ms_per_token: f16Wall / batch,
          ms_per_token: wall / batch,
          cpu_ms_per_token: cpu / batch,
          cpu_ratio_to_f16: cpu / f16Cpu,
          kernel,
          splits: plan.splits,
          windows: plan.windows,
          repeats,
        };
        rows.push(row);
        log(
          `attention ${dtype.name} context ${context} batch ${batch}: ` +
            `${row.ms_per_token.toFixed(3)} ms/token (CPU ${row.cpu_ms_per_token.toFixed(3)}), ` +
            `${row.time_ratio_to_f16.toFixed(3)}× f16 ` +
            `(CPU time ${row.cpu_ratio_to_f16.toFixed(3)}×)`,
        );
      });
    }
  } finally {
    op.destroy();
    if (!o.gpu) gpu.destroy();
  }
  return rows;
}

/** The pool, table and rows of `batch` sequences of `context` tokens in blocks of one dtype. */
function fill(layout: KvLayout, dtype: KvDtype, context: number, batch: number) {
  const blockWords = encodeBlock(dtype, layout, randomBlock(layout, 0)).length;
  const distinct = Array.from(
    { length: DISTINCT_BLOCKS },
    (_, i) => encodeBlock(dtype, layout, randomBlock(layout, i + 1)),
  );
  const perSeq = Math.ceil(context / layout.blockSize);
  const pool = new Uint32Array(batch * perSeq * blockWords);
  const table = new Uint32Array(batch * perSeq * TABLE_WORDS);
  const seqs = new Uint32Array(batch * SEQ_WORDS);
  const rows = new Uint32Array(batch * ROW_WORDS);
  for (let s = 0; s < batch; s++) {
    seqs.set([s * perSeq, perSeq, s], s * SEQ_WORDS);
    rows.set([0, context - 1, s], s * ROW_WORDS);
    for (let b = 0; b < perSeq; b++) {
      const e = s * perSeq + b;
      pool.set(distinct[e % DISTINCT_BLOCKS], e * blockWords);
      const tokens = Math.min(layout.blockSize, context - b * layout.blockSize);
      table.set([e * blockWords, dtype.id, tokens, b * layout.blockSize], e * TABLE_WORDS);
    }
  }
  return { pool, table, seqs, rows };
}

/**
 * Median wall and CPU ms of one op call for `batch` decode rows over `context` tokens, per
 * dtype. Repeats go round the dtypes (f16, int4, …, f16, int4, …) so that load from other
 * processes falls on every dtype alike; CPU time (this process, where a software adapter runs)
 * is the steadier figure on a shared machine.
 */
async function timeShape(
  gpu: Gpu,
  op: AttentionOp,
  layout: KvLayout,
  dtypes: readonly KvDtype[],
  { context, batch, repeats, kernel }: {
    context: number;
    batch: number;
    repeats: number;
    kernel: AttentionKernel;
  },
  minMs = 300,
): Promise<[number, number][]> {
  const d = gpu.device;
  const rand = seeded(context + batch);
  const qkv = createStorage(
    d,
    "bench.qkv",
    Float32Array.from({ length: batch * SHAPE.qkvStride }, () => 2 * rand() - 1),
  );
  const out = d.createBuffer({
    size: batch * SHAPE.numHeads * SHAPE.headDim * 4,
    usage: STORAGE_USAGE,
  });
  const cases = dtypes.map((dtype) => {
    const data = fill(layout, dtype, context, batch);
    return {
      ids: kernel === "dtype" ? [dtype.id] : undefined,
      qkv,
      out,
      rows: createStorage(d, "bench.rows", data.rows),
      seqs: createStorage(d, "bench.seqs", data.seqs),
      table: createStorage(d, "bench.table", data.table),
      pool: createStorage(d, "bench.pool", data.pool),
    };
  });
  try {
    const run = async (bufs: AttentionBuffers & { ids?: number[] }, times: number) => {
      const plan = op.prepare(batch, context, bufs.ids);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const enc = d.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < times; i++) op.encode(pass, bufs, plan);
      pass.end();
      d.queue.submit([enc.finish()]);
      await d.queue.onSubmittedWorkDone();
      const cpu = process.cpuUsage(cpu0);
      return [performance.now() - t0, (cpu.user + cpu.system) / 1000];
    };
    // warm-up, and the size of one call
    const times: number[] = [];
    for (const bufs of cases) times.push(Math.max(1, Math.ceil(minMs / (await run(bufs, 1))[0])));
    const wall: number[][] = cases.map(() => []), cpu: number[][] = cases.map(() => []);
    for (let r = 0; r < repeats; r++) {
      for (let i = 0; i < cases.length; i++) {
        const [w, c] = await run(cases[i], times[i]);
        wall[i].push(w / times[i]);
        cpu[i].push(c / times[i]);
      }
    }
    return cases.map((_, i) => [median(wall[i]), median(cpu[i])]);
  } finally {
    for (const c of cases) for (const b of [c.rows, c.seqs, c.table, c.pool]) b.destroy();
    qkv.destroy();
    out.destroy();
    gpu.kernels.clearBindGroups();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The timing rows as a markdown table, one line per (dtype, context, batch). */
export function attentionTable(rows: readonly AttentionRow[]): string {
  const lines = [
    "| dtype | bits | context | batch | splits × windows | ms/token | f16 ms/token | " +
    "time / f16 | CPU ms/token | CPU time / f16 |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.dtype} | ${r.nominal_bits} | ${r.context} | ${r.batch} | ` +
        `${r.splits} × ${r.windows} | ${r.ms_per_token.toFixed(3)} | ` +
        `${r.f16_ms_per_token.toFixed(3)} | ${r.time_ratio_to_f16.toFixed(3)} | ` +
        `${r.cpu_ms_per_token.toFixed(3)} | ${r.cpu_ratio_to_f16.toFixed(3)} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    options: {
      json: { type: "boolean", default: false },
      repeats: { type: "string", default: "5" },
      contexts: { type: "string" },
      "batch-contexts": { type: "string" },
      dtypes: { type: "string" },
      "min-ms": { type: "string", default: "300" },
      lanes: { type: "string" },
      kernel: { type: "string", default: "dtype" },
    },
  });
  if (args.kernel !== "dtype" && args.kernel !== "all") {
    console.error(`--kernel must be dtype or all, got ${args.kernel}`);
    Deno.exit(2);
  }
  const list = (s: string | undefined) =>
    s === undefined ? undefined : s.split(",").filter((x) => x.trim() !== "").map(Number);
  const rows = await benchKvAttention({
    repeats: Number(args.repeats),
    contexts: list(args.contexts),
    batchContexts: list(args["batch-contexts"]),
    dtypes: args.dtypes?.split(",").map((n) => KV_DTYPES.find((d) => d.name === n)!),
    minMs: Number(args["min-ms"]),
    lanes: args.lanes === undefined ? undefined : Number(args.lanes),
    kernel: args.kernel,
  });
  console.log(attentionTable(rows));
  if (args.json) console.log(JSON.stringify(rows));
}
