/**
 * The paged attention kernel built with kernels/kv_decode.wgsl over random block tables that mix
 * every KV dtype, against the attention oracle over the codec oracle's dequantized values.
 *
 * Tolerance: the kernel's lane decoders (kernels/kv_lanes.wgsl) read the codes and (scale, min)
 * words the codec oracle decodes (kv_seal_test checks kv_decode.wgsl against it bit for bit);
 * where one (scale, min) covers a lane's channels the kernel applies it per dot product
 * (s·(q·c) + m·Σq) rather than per element, which only reorders f32 sums of the same size as
 * the scores'. So only the attention arithmetic differs: f32 online softmax on the GPU against
 * f64 two-pass in the oracle. A score is a sum of headDim products of |q| ≤ 1 and |k| ≲ 50
 * (outlier channels, or a vector's minimum), so its f32 error is ≲ headDim·50·6e-8 ≈ 1e-4
 * before the 1/√headDim scale; exp turns that into a relative weight error of the same size,
 * and outputs (convex mixes of |v| ≲ 5) move by ≲ 2e-4 at worst, typically 1e-6. atol 2e-4
 * with rtol 1e-4 is therefore safe, yet 100× tighter than the quantization error the test
 * asserts it can see (a kernel that decoded one dtype wrongly, or read a partial block's stale
 * slots, misses by far more).
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { KV_DTYPES, type KvDtype } from "../src/kv/dtype.ts";
import type { KvLayout } from "../src/kv/layout.ts";
import { AttentionOp, type AttentionPlan, tableDtypes } from "../src/runner/ops/attention.ts";
import { qkvStride } from "../src/runner/ops/elementwise.ts";
import { ROW_WORDS, SEQ_WORDS, TABLE_WORDS } from "../src/runner/step_layout.ts";
import {
  assertClose,
  randomF32,
  readF32,
  runPass,
  storage,
  testGpu,
  zeros,
} from "./helpers/gpu_harness.ts";
import {
  decodeBlock,
  encodeBlock,
  type KvBlockValues,
  packF16Block,
} from "./reference/kv_codec.ts";
import { randomBlock, seeded } from "./reference/kv_data.ts";
import { attentionRef } from "./reference/ops.ts";

const ATOL = 2e-4;
const RTOL = 1e-4;
/** Share of blocks closed early (at a phase change) with fewer than blockSize tokens. */
const PARTIAL_SHARE = 0.3;

interface MixedCase {
  blockSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  contexts: number[];
  /** Lowered to force parallel splits; undefined keeps the runner's default. */
  minSplitTokens?: number;
  /** Lowered to force several windows; undefined keeps the loop bound's limit. */
  maxSplitTokens?: number;
  /** Workgroup lanes asked for (8: the software profile's, 32: the GPU profile's). */
  lanes?: number;
  /** Dtypes the tables draw from (default every one); with them, the kernel specialised to them
   * runs too (AttentionOp.specialise), after the kernel for every dtype. */
  dtypes?: readonly KvDtype[];
  expect: (plan: AttentionPlan) => boolean;
  seed: number;
}

/** One block of a sequence: its dtype, tokens held, pool words and oracle-decoded K and V. */
interface PlacedBlock {
  dtype: KvDtype;
  tokens: number;
  words: Uint32Array<ArrayBuffer>;
  decoded: KvBlockValues;
  /** Exact (f16-rounded, unquantized) K and V: the control the tolerance is judged against. */
  exact: KvBlockValues;
  wordOffset: number;
}

/** Token counts of a sequence's blocks: mostly full, some closed early, the last one open. */
function blockFills(context: number, blockSize: number, rand: () => number): number[] {
  const fills: number[] = [];
  for (let left = context; left > 0;) {
    const early = rand() < PARTIAL_SHARE;
    const n = Math.min(left, early ? 1 + Math.floor(rand() * (blockSize - 1)) : blockSize);
    fills.push(n);
    left -= n;
  }
  return fills;
}

/** The block's words as the cache holds them; an f16 block's unwritten slots hold NaN. */
function blockWords(dtype: KvDtype, layout: KvLayout, values: KvBlockValues, tokens: number) {
  if (dtype.kind !== "f16") return encodeBlock(dtype, layout, values, tokens);
  const stale = { k: values.k.slice(), v: values.v.slice() };
  for (let h = 0; h < layout.numKvHeads; h++) {
    const from = (h * layout.blockSize + tokens) * layout.headDim;
    const to = (h + 1) * layout.blockSize * layout.headDim;
    stale.k.fill(NaN, from, to);
    stale.v.fill(NaN, from, to);
  }
  return packF16Block(stale, layout);
}

/** Builds every sequence's blocks with random dtypes and lays them out in a shuffled pool. */
function buildPool(c: MixedCase, layout: KvLayout, rand: () => number) {
  // every dtype once first (so each case covers the whole registry), then random ones
  const dtypes = c.dtypes ?? KV_DTYPES;
  let placed = 0;
  const seqs: PlacedBlock[][] = c.contexts.map((context, s) =>
    blockFills(context, c.blockSize, rand).map((tokens, b) => {
      const pick = placed < dtypes.length ? placed : Math.floor(rand() * dtypes.length);
      placed++;
      const dtype = dtypes[pick];
      const values = randomBlock(layout, c.seed * 1000 + s * 100 + b);
      const words = blockWords(dtype, layout, values, tokens);
      const exact = decodeBlock(KV_DTYPES[0], layout, packF16Block(values, layout));
      return {
        dtype,
        tokens,
        words,
        decoded: decodeBlock(dtype, layout, words),
        exact,
        wordOffset: 0,
      };
    })
  );
  // blocks of all sequences interleave in the pool, as the slab arena hands them out
  const all = seqs.flat();
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  let words = 0;
  for (const block of all) {
    block.wordOffset = words;
    words += block.words.length;
  }
  const pool = new Uint32Array(words);
  for (const block of all) pool.set(block.words, block.wordOffset);
  return { seqs, pool };
}

/** The flat block table and per-sequence (first entry, entries) words the kernel reads. */
function packTables(seqs: PlacedBlock[][]) {
  const table = new Uint32Array(seqs.flat().length * TABLE_WORDS);
  const seqWords = new Uint32Array(seqs.length * SEQ_WORDS);
  let entry = 0;
  seqs.forEach((blocks, s) => {
    seqWords.set([entry, blocks.length], s * SEQ_WORDS);
    let start = 0;
    for (const b of blocks) {
      table.set([b.wordOffset, b.dtype.id, b.tokens, start], TABLE_WORDS * entry++);
      start += b.tokens;
    }
  });
  return { table, seqWords };
}

/** K or V element (kvh, d) at cache position p of a sequence, from `pick`'s values. */
function elementAt(
  blocks: PlacedBlock[],
  layout: KvLayout,
  pick: "decoded" | "exact",
  isK: boolean,
) {
  const where: { block: PlacedBlock; t: number }[] = [];
  for (const block of blocks) for (let t = 0; t < block.tokens; t++) where.push({ block, t });
  return (p: number, kvh: number, d: number) => {
    const { block, t } = where[p];
    const values = block[pick];
    return (isK ? values.k : values.v)[(kvh * layout.blockSize + t) * layout.headDim + d];
  };
}

async function checkMixed(c: MixedCase): Promise<void> {
  const layout: KvLayout = { numKvHeads: c.numKvHeads, blockSize: c.blockSize, headDim: c.headDim };
  const rand = seeded(c.seed);
  const { seqs, pool } = buildPool(c, layout, rand);
  const used = new Set(seqs.flat().map((b) => b.dtype.name));
  const dtypes = c.dtypes ?? KV_DTYPES;
  assertEquals([...used].sort(), dtypes.map((d) => d.name).sort(), "every dtype in the tables");
  assert(
    seqs.flat().some((b, i, all) => b.tokens < c.blockSize && all[i + 1] !== undefined),
    "some closed block is partial",
  );
  const { table, seqWords } = packTables(seqs);
  // rows: each sequence's last position (decode) and one earlier position (a prefill row)
  const rowList = c.contexts.flatMap((ctx, seq) => [
    { seq, position: ctx - 1 },
    { seq, position: Math.floor(ctx / 3) },
  ]);
  const rows = new Uint32Array(rowList.length * ROW_WORDS);
  rowList.forEach((r, i) => rows.set([0, r.position, r.seq], i * ROW_WORDS));
  const shape = {
    numHeads: c.numHeads,
    numKvHeads: c.numKvHeads,
    headDim: c.headDim,
    qkvStride: qkvStride(c.numHeads, c.numKvHeads, c.headDim),
  };
  const qkv = randomF32(rowList.length * shape.qkvStride, c.seed + 1);
  const gpu = await testGpu();
  try {
    const op = await AttentionOp.create(gpu, shape, {
      blockSize: c.blockSize,
      kvDecode: "kv_decode",
      minSplitTokens: c.minSplitTokens,
      maxSplitTokens: c.maxSplitTokens,
      lanes: c.lanes,
    });
    const width = c.numHeads * c.headDim;
    const bufs = {
      qkv: storage(gpu, qkv),
      rows: storage(gpu, rows),
      seqs: storage(gpu, seqWords),
      table: storage(gpu, table),
      pool: storage(gpu, pool),
      out: zeros(gpu, rowList.length * width * 4),
    };
    const attend = async (dtypes?: number[]) => {
      const plan = op.prepare(rowList.length, Math.max(...c.contexts), dtypes);
      assert(c.expect(plan), `unexpected plan ${JSON.stringify(plan)}`);
      await runPass(gpu, (pass) => op.encode(pass, bufs, plan));
      return await readF32(gpu, bufs.out, rowList.length * width);
    };
    // the kernel for every dtype; with a subset, also the one specialised to the tables' dtypes
    const runs = [await attend()];
    if (c.dtypes) {
      assert(await op.specialise(tableDtypes(table)), "specialised kernel built");
      runs.push(await attend(tableDtypes(table)));
    }
    op.destroy();
    for (const got of runs) checkRows(c, layout, seqs, rowList, qkv, got);
  } finally {
    gpu.destroy();
  }
}

/** Each row's output against the attention oracle over the oracle-decoded blocks. */
function checkRows(
  c: MixedCase,
  layout: KvLayout,
  seqs: PlacedBlock[][],
  rowList: { seq: number; position: number }[],
  qkv: Float32Array,
  got: Float32Array,
): void {
  const stride = qkvStride(c.numHeads, c.numKvHeads, c.headDim);
  const width = c.numHeads * c.headDim;
  let quantGap = 0;
  rowList.forEach((r, i) => {
    const q = qkv.subarray(i * stride, i * stride + width);
    const attend = (pick: "decoded" | "exact") =>
      attentionRef(
        q,
        c.numHeads,
        c.numKvHeads,
        c.headDim,
        elementAt(seqs[r.seq], layout, pick, true),
        elementAt(seqs[r.seq], layout, pick, false),
        r.position,
      );
    const expected = attend("decoded");
    const row = got.subarray(i * width, (i + 1) * width);
    assertClose(row, expected, ATOL, RTOL, `row ${i} (seq ${r.seq}, position ${r.position})`);
    const exact = attend("exact");
    for (let j = 0; j < width; j++) {
      quantGap = Math.max(quantGap, Math.abs(exact[j] - expected[j]));
    }
  });
  // the tolerance must be far below what decoding a block as the wrong dtype would cost
  assert(quantGap > 100 * ATOL, `quantization moved outputs by only ${quantGap}`);
}

const one = (p: AttentionPlan) => p.splits === 1 && p.windows === 1;

Deno.test("paged attention over mixed-dtype blocks: block 16, GQA 1, one split", () =>
  checkMixed({
    blockSize: 16,
    numHeads: 2,
    numKvHeads: 2,
    headDim: 32,
    contexts: [170, 45, 3],
    minSplitTokens: 1 << 20,
    expect: one,
    seed: 1,
  }));

Deno.test("paged attention over mixed-dtype blocks: block 32, GQA 2, parallel splits", () =>
  checkMixed({
    blockSize: 32,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    contexts: [400, 130],
    minSplitTokens: 48,
    expect: (p) => p.splits > 1 && p.windows === 1,
    seed: 2,
  }));

Deno.test("paged attention over mixed-dtype blocks: block 16, GQA 6, 2k context, windows", () =>
  checkMixed({
    blockSize: 16,
    numHeads: 6,
    numKvHeads: 1,
    headDim: 16,
    contexts: [2048, 260],
    minSplitTokens: 256,
    maxSplitTokens: 100,
    expect: (p) => p.splits > 1 && p.windows > 1,
    seed: 3,
  }));

// The GPU profile's workgroup (32 lanes, several SIMD chunks on lavapipe, so barriers matter)
Deno.test("paged attention over mixed-dtype blocks: 32 lanes, block 32, GQA 6, windows", () =>
  checkMixed({
    blockSize: 32,
    numHeads: 12,
    numKvHeads: 2,
    headDim: 64,
    contexts: [333, 250],
    minSplitTokens: 64,
    maxSplitTokens: 40,
    lanes: 32,
    expect: (p) => p.splits > 1 && p.windows > 1,
    seed: 4,
  }));

Deno.test("paged attention over mixed-dtype blocks: 32 lanes, block 16, GQA 2, one split", () =>
  checkMixed({
    blockSize: 16,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 128,
    // enough blocks that every registry dtype gets one
    contexts: [200, 17],
    minSplitTokens: 1 << 20,
    lanes: 32,
    expect: one,
    seed: 5,
  }));

// The R1-1.5B head shape at the software profile: 8 lanes of 16 channels, GQA 6, head_dim 128
Deno.test("paged attention over mixed-dtype blocks: head_dim 128, GQA 6, 8 lanes", () =>
  checkMixed({
    blockSize: 16,
    numHeads: 6,
    numKvHeads: 1,
    headDim: 128,
    contexts: [300, 40],
    minSplitTokens: 128,
    maxSplitTokens: 90,
    expect: (p) => p.splits > 1 && p.windows > 1,
    seed: 6,
  }));

// Lane decoders (kernels/kv_lanes.wgsl) at a DPL of 8: int4, rot8, fp8 and kivi (keys in blocks
// of 16) read whole words, int2 (16 bits a lane) and 3 bits go code by code
Deno.test("paged attention over mixed-dtype blocks: head_dim 64, 8 lanes of 8 channels", () =>
  checkMixed({
    blockSize: 16,
    numHeads: 4,
    numKvHeads: 1,
    headDim: 64,
    contexts: [150, 33],
    minSplitTokens: 64,
    lanes: 8,
    expect: (p) => p.splits > 1,
    seed: 7,
  }));

// Every fallback: 6 channels a lane (no whole words, and a KIVI value group of 32 channels
// splits lanes), blocks of 12 tokens (a channel's KIVI keys of 2 and 4 bits start mid-word)
Deno.test("paged attention over mixed-dtype blocks: head_dim 48, block 12, DPL 6 fallbacks", () =>
  checkMixed({
    blockSize: 12,
    numHeads: 3,
    numKvHeads: 1,
    headDim: 48,
    contexts: [140, 30],
    minSplitTokens: 48,
    maxSplitTokens: 40,
    lanes: 8,
    expect: (p) => p.splits > 1 && p.windows > 1,
    seed: 8,
  }));

// A kernel specialised to a step's dtypes (llvmpipe runs every compiled decoder per token) reads
// the same values as the kernel for every dtype: both families and a 3-bit fallback, no f16
// blocks (so the specialised kernel leaves the f16 path out)
Deno.test("paged attention: the kernel specialised to the tables' dtypes, head_dim 128", () =>
  checkMixed({
    blockSize: 16,
    numHeads: 6,
    numKvHeads: 1,
    headDim: 128,
    contexts: [200, 50],
    minSplitTokens: 64,
    dtypes: ["int4", "kivi4", "int3"].map((n) => KV_DTYPES.find((d) => d.name === n)!),
    expect: (p) => p.splits > 1,
    seed: 9,
  }));

// The default model's shape as its profile serves it: head_dim 32, 2 KV heads, GQA 2, blocks of
// 8 tokens (and of 4, which the block's KIVI keys fill in one word at 8 bits)
for (const blockSize of [8, 4]) {
  Deno.test(`paged attention over mixed-dtype blocks: head_dim 32, block ${blockSize}`, () =>
    checkMixed({
      blockSize,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 32,
      contexts: [20 * blockSize + 3, 5 * blockSize],
      minSplitTokens: 8 * blockSize,
      expect: (p) => p.splits > 1,
      seed: 10 + blockSize,
    }));
}
