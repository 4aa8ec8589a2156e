import { assert, assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import { codecTable, type KvBenchRow } from "../bench/kv_report.ts";
import { distortionRows } from "../bench/kv_distortion.ts";
import { type SizeRow, sizeRows, TARGET_SHAPES } from "../bench/kv_size.ts";
import { KV_DTYPES, kvDtype } from "../src/kv/dtype.ts";
import type { KvTrace } from "../src/taqg/trace.ts";
import { gaussian } from "./reference/kv_data.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("bench:kv size rows count every scale byte, per token over all layers", () => {
  const rows = sizeRows(TARGET_SHAPES, 16);
  const row = (shape: string, config: string) =>
    rows.find((r) => r.shape === shape && r.config === config)!;
  const r1 = row("r1-distill-qwen-1.5b", "int4");
  assertAlmostEquals(r1.bits_per_element, 4.25, 1e-12);
  const layout = { numKvHeads: 2, blockSize: 16, headDim: 128 };
  assertEquals(r1.bytes_per_token, (28 * kvDtype("int4").blockBytes(layout)) / 16);
  assertEquals(row("r1-distill-qwen-1.5b", "f16").bytes_per_token, 28 * 2 * 2 * 128 * 2);
  assertAlmostEquals(r1.ratio_to_f16, 4.25 / 16, 1e-12);
  assertEquals(row("qwen3-8b", "f16").bytes_per_token, 36 * 2 * 8 * 128 * 2);
  // a mix weights each phase's dtype by its share of tokens
  const mix = row("qwen3-8b", "prompt=f16,think=int4,answer=int3");
  assertAlmostEquals(mix.nominal_bits, 0.1 * 16 + 0.75 * 4 + 0.15 * 3, 1e-12);
  assertAlmostEquals(mix.bits_per_element, 0.1 * 16 + 0.75 * 4.25 + 0.15 * 3.25, 1e-12);
  assert(row("qwen3-8b", "prompt=int4,think=int4,answer=int3").ratio_to_f16 < mix.ratio_to_f16);
  for (const r of rows.filter((r) => ["int4", "int3", "int2"].includes(r.config))) {
    assert(r.bits_per_element - r.nominal_bits <= 0.5, `${r.shape} ${r.config}`);
  }
  // k4v3: K 4 bits and V 3 bits, each with one (scale, min) word per head vector
  assertAlmostEquals(row("r1-distill-qwen-1.5b", "k4v3").nominal_bits, 3.5, 1e-12);
  assertAlmostEquals(row("r1-distill-qwen-1.5b", "k4v3").bits_per_element, 3.75, 1e-12);
  // a 4096-token trace: 256 blocks, the open one f16 and the 255 before it sealed (the last
  // of them has exactly the 16-token window behind it)
  const f16Block = kvDtype("f16").blockBytes(layout),
    int4Block = kvDtype("int4").blockBytes(layout);
  assertAlmostEquals(r1.trace_bytes_per_token, (28 * (255 * int4Block + f16Block)) / 4096, 1e-9);
  assertAlmostEquals(r1.trace_ratio_to_f16, (255 * int4Block + f16Block) / (256 * f16Block), 1e-12);
  assertEquals(row("qwen3-8b", "f16").trace_ratio_to_f16, 1);
});

Deno.test("bench:kv --json --only size prints one JSON array of rows as its last line", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "bench/kv.ts", "--json", "--only", "size"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const rows = JSON.parse(lines.at(-1)!) as SizeRow[];
  const shapes = new Set(rows.map((r) => r.shape));
  assertEquals([...shapes], ["r1-distill-qwen-1.5b", "qwen3-8b", "phasekv-tiny-reasoner"]);
  for (const r of rows) {
    assertEquals(r.kind, "size");
    for (const k of ["nominal_bits", "bits_per_element", "bytes_per_token", "ratio_to_f16"]) {
      assert(Number.isFinite(r[k as keyof SizeRow]), `${r.config} ${k}`);
    }
  }
  assertAlmostEquals(
    rows.find((r) => r.shape === "phasekv-tiny-reasoner" && r.config === "int4")!.bits_per_element,
    5,
    1e-12,
  );
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "bench/kv.ts", "--only", "sizes"],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  assertEquals(bad.code, 2);
  assertStringIncludes(new TextDecoder().decode(bad.stderr), "known producers are size");
});

function syntheticTrace(headDim: number): KvTrace {
  const g = gaussian(headDim);
  const tokens = 40, numKvHeads = 2, numHeads = 4;
  const arr = (n: number) => Float32Array.from({ length: n }, () => Math.fround(g()));
  return {
    numLayers: 1,
    numKvHeads,
    numHeads,
    headDim,
    tokens,
    phases: Array.from({ length: tokens }, (_, t) => (t < 10 ? "prompt" : "think")),
    keys: [arr(tokens * numKvHeads * headDim).map((x, i) => x + (i % headDim === 3 ? 6 : 0))],
    values: [arr(tokens * numKvHeads * headDim)],
    queries: [arr(tokens * numHeads * headDim)],
  };
}

Deno.test("bench:kv distortion rows: both spaces where the head rotates, more bits less KL", () => {
  const rows = distortionRows({ name: "synthetic", traces: [syntheticTrace(32)] }, 8);
  const quantized = KV_DTYPES.filter((d) => d.kind !== "f16");
  assertEquals(rows.length, 2 * quantized.length);
  const kl = (dtype: string, space: string) =>
    rows.find((r) => r.dtype === dtype && r.space === space)!.attention_kl;
  for (const space of ["plain", "rotated"]) {
    assert(kl("int8", space) < kl("int4", space) && kl("int4", space) < kl("int2", space));
  }
  // head_dim 32 is rotated by default, so that space is the served one for every dtype
  for (const r of rows) assertEquals(r.served, r.space === "rotated");
  const narrow = distortionRows({ name: "synthetic", traces: [syntheticTrace(12)] }, 8);
  assertEquals(new Set(narrow.map((r) => r.space)), new Set(["plain"]));
});

Deno.test("the README's codec table and dtype.ts's figures are the committed bench:kv report's", async () => {
  const rows = JSON.parse(
    await Deno.readTextFile(new URL("reports/bench/kv.json", ROOT)),
  ) as KvBenchRow[];
  const report = await Deno.readTextFile(new URL("reports/bench/kv.md", ROOT));
  const table = codecTable(rows, {
    wideShape: "r1-distill-qwen-1.5b",
    defaultShape: "phasekv-tiny-reasoner",
    source: "phasekv-tiny-reasoner",
    space: "rotated",
  });
  assertStringIncludes(report, table);
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const fmt = (t: string) => t.replace(/[ -]+/g, " ").trim();
  assertStringIncludes(fmt(readme), fmt(table));
  // every figure the registry's header quotes (bits like 4.25, KL like 7.32e-3) is in the report
  const header = (await Deno.readTextFile(new URL("src/kv/dtype.ts", ROOT))).split("@module")[0];
  const figures = header.match(/\d+\.\d+(e-\d+)?/g) ?? [];
  assert(figures.length >= 6, `the header quotes ${figures.length} figures`);
  for (const f of figures) assertStringIncludes(report, f, `dtype.ts quotes ${f}`);
});

Deno.test("bench:kv trace columns hold a model at the window and block size its profile sets", () => {
  const shape = { name: "m", numLayers: 4, numKvHeads: 2, headDim: 32 };
  const served = { ...shape, name: "served", served: { recentTokens: 8, blockSize: 8 } };
  const rows = sizeRows([shape, served], 16);
  const row = (name: string) => rows.find((r) => r.shape === name && r.config === "int4")!;
  // the per-dtype columns do not move; the trace's f16 window and open block shrink
  assertEquals(row("served").bytes_per_token, row("m").bytes_per_token);
  assert(row("served").trace_ratio_to_f16 < row("m").trace_ratio_to_f16);
  assertEquals([row("served").trace_served, row("m").trace_served], ["window 8, block 8", null]);
});
