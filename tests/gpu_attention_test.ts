import { assertEquals, assertThrows } from "@std/assert";
import {
  attentionKernelShape,
  AttentionOp,
  type AttentionPlan,
  attentionPlan,
  loopIterations,
  maxSplitTokens,
} from "../src/runner/ops/attention.ts";
import { qkvStride, RowKernel } from "../src/runner/ops/elementwise.ts";
import { ROW_WORDS, SEQ_WORDS, TABLE_WORDS } from "../src/runner/step_layout.ts";
import { countSlot, createCounts, writeCount } from "../src/gpu/dispatch.ts";
import {
  assertClose,
  randomF32,
  readF32,
  readU32,
  runPass,
  storage,
  testGpu,
  zeros,
} from "./helpers/gpu_harness.ts";
import { attentionRef, type KvShape, packF16, readF16Kv } from "./reference/ops.ts";

const BLOCK = 4;

/** Block b of sequence s sits at a shuffled pool block (blocks interleave across sequences). */
function poolBlock(s: number, b: number, numSeqs: number, numBlocks: number): number {
  return (b * numSeqs + s) * 7 % (numSeqs * numBlocks);
}

async function checkAttention(
  numHeads: number,
  numKvHeads: number,
  contexts: number[],
  minSplitTokens: number,
  expect: (plan: AttentionPlan) => boolean,
  kvDecode = "kv_decode",
  partial = false,
) {
  const gpu = await testGpu();
  try {
    const headDim = 8;
    const kv: KvShape = { numKvHeads, blockSize: BLOCK, headDim };
    const blockWords = numKvHeads * BLOCK * headDim; // K and V halves / 2 each
    // With `partial`, blocks hold 1..BLOCK tokens, as blocks closed at a phase change do.
    const fills = contexts.map((c, s) => {
      const out: number[] = [];
      for (let left = c, b = 0; left > 0; b++) {
        const n = Math.min(left, partial ? 1 + (s * 5 + b * 3) % BLOCK : BLOCK);
        out.push(n);
        left -= n;
      }
      return out;
    });
    const maxBlocks = Math.max(...fills.map((f) => f.length));
    const numSeqs = contexts.length;
    // 7 is coprime with the pool size here, so the permutation is a shuffle.
    const poolWords = numSeqs * maxBlocks * blockWords;
    const pool = packF16(randomF32(poolWords * 2, 21));
    const table = new Uint32Array(numSeqs * maxBlocks * TABLE_WORDS);
    const seqs = new Uint32Array(numSeqs * SEQ_WORDS);
    // Cache position p of sequence s lives at (word, t) = where[s][p].
    const where: { word: number; t: number }[][] = [];
    for (let s = 0; s < numSeqs; s++) {
      seqs[s * SEQ_WORDS] = s * maxBlocks;
      seqs[s * SEQ_WORDS + 1] = fills[s].length;
      where.push([]);
      fills[s].forEach((n, b) => {
        const word = poolBlock(s, b, numSeqs, maxBlocks) * blockWords;
        table.set([word, 0, n, where[s].length], (s * maxBlocks + b) * TABLE_WORDS);
        for (let t = 0; t < n; t++) where[s].push({ word, t });
      });
    }
    // Rows: the last position of every sequence, and position 1 of sequence 0 (a prefill row).
    const rowList = contexts.map((c, s) => ({ seq: s, position: c - 1 }));
    rowList.push({ seq: 0, position: 1 });
    const rows = new Uint32Array(rowList.length * ROW_WORDS);
    rowList.forEach((r, i) => {
      rows[i * ROW_WORDS + 1] = r.position;
      rows[i * ROW_WORDS + 2] = r.seq;
    });
    const shape = {
      numHeads,
      numKvHeads,
      headDim,
      qkvStride: qkvStride(numHeads, numKvHeads, headDim),
    };
    const qkv = randomF32(rowList.length * shape.qkvStride, 22);
    const op = await AttentionOp.create(gpu, shape, {
      blockSize: BLOCK,
      kvDecode,
      minSplitTokens,
      // a few tokens per invocation, so that contexts of 29 tokens span several windows
      maxSplitTokens: minSplitTokens < 8 ? 6 : undefined,
    });
    const plan = op.prepare(rowList.length, Math.max(...contexts));
    assertEquals(expect(plan), true, `plan ${JSON.stringify(plan)}`);
    const out = zeros(gpu, rowList.length * numHeads * headDim * 4);
    await runPass(gpu, (pass) =>
      op.encode(
        pass,
        {
          qkv: storage(gpu, qkv),
          rows: storage(gpu, rows),
          seqs: storage(gpu, seqs),
          table: storage(gpu, table),
          pool: storage(gpu, pool),
          out,
        },
        plan,
      ));
    const got = await readF32(gpu, out, rowList.length * numHeads * headDim);
    rowList.forEach((r, i) => {
      const at = (p: number) => where[r.seq][p];
      const expected = attentionRef(
        qkv.subarray(i * shape.qkvStride, i * shape.qkvStride + numHeads * headDim),
        numHeads,
        numKvHeads,
        headDim,
        (p, kvh, d) => readF16Kv(pool, kv, at(p).word, false, kvh, at(p).t, d),
        (p, kvh, d) => readF16Kv(pool, kv, at(p).word, true, kvh, at(p).t, d),
        r.position,
      );
      const o = i * numHeads * headDim;
      assertClose(got.subarray(o, o + numHeads * headDim), expected, 1e-5, 1e-4, `row ${i}`);
    });
  } finally {
    gpu.destroy();
  }
}

for (const [heads, kvHeads] of [[2, 2], [4, 2], [6, 1]]) {
  Deno.test(`AttentionOp over shuffled f16 blocks, GQA ${heads / kvHeads}, one split`, () =>
    checkAttention(heads, kvHeads, [13, 7, 1], 1 << 20, (p) => p.splits === 1 && p.windows === 1));
  Deno.test(`AttentionOp over shuffled f16 blocks, GQA ${heads / kvHeads}, splits and windows`, () =>
    checkAttention(heads, kvHeads, [29, 18, 5], 4, (p) => p.splits > 1 && p.windows > 1));
}

Deno.test("AttentionOp maps positions through partly filled blocks (closed at phase changes)", () =>
  checkAttention(4, 2, [29, 18, 5], 4, (p) => p.windows > 1, "kv_decode", true));

Deno.test({
  name: "AttentionOp built with the KV module's kv_decode.wgsl reads f16 blocks the same way",
  ignore: !(await Deno.stat(new URL("../kernels/kv_decode.wgsl", import.meta.url)).then(
    () => true,
    () => false,
  )),
  fn: () => checkAttention(4, 2, [29, 18, 5], 4, (p) => p.splits > 1, "kv_decode"),
});

Deno.test("RowKernel.kvWrite places K and V of each row at its block and slot in f16", async () => {
  const gpu = await testGpu();
  try {
    const [numHeads, numKvHeads, headDim] = [4, 2, 8];
    const stride = qkvStride(numHeads, numKvHeads, headDim);
    const kv: KvShape = { numKvHeads, blockSize: BLOCK, headDim };
    const blockWords = numKvHeads * BLOCK * headDim;
    const dests = [{ block: 2, t: 3 }, { block: 0, t: 0 }, { block: 2, t: 1 }];
    const qkv = randomF32(dests.length * stride, 23);
    const rows = new Uint32Array(dests.length * ROW_WORDS);
    dests.forEach((d, i) => {
      rows[i * ROW_WORDS + 4] = d.block * blockWords;
      rows[i * ROW_WORDS + 5] = d.t;
    });
    const op = await RowKernel.kvWrite(
      gpu,
      { numHeads, numKvHeads, headDim, qkvStride: stride },
      BLOCK,
    );
    const pool = zeros(gpu, 3 * blockWords * 4);
    const count = createCounts(gpu.device, "count", 1);
    writeCount(gpu.device, count, 0, dests.length);
    await runPass(
      gpu,
      (pass) =>
        op.encode(pass, {
          qkv: storage(gpu, qkv),
          rows: storage(gpu, rows),
          pool,
          count: countSlot(count, 0),
        }, 3),
    );
    const words = await readU32(gpu, pool, 3 * blockWords);
    dests.forEach((dst, i) => {
      for (let kvh = 0; kvh < numKvHeads; kvh++) {
        for (let d = 0; d < headDim; d++) {
          const k = qkv[i * stride + numHeads * headDim + kvh * headDim + d];
          const v = qkv[i * stride + (numHeads + numKvHeads) * headDim + kvh * headDim + d];
          const w = dst.block * blockWords;
          assertEquals(readF16Kv(words, kv, w, false, kvh, dst.t, d), Math.f16round(k));
          assertEquals(readF16Kv(words, kv, w, true, kvh, dst.t, d), Math.f16round(v));
        }
      }
    });
  } finally {
    gpu.destroy();
  }
});

Deno.test("attentionPlan() keeps every invocation within maxSplitTokens, at any context", () => {
  const base = {
    numKvHeads: 2,
    stateBytesPerSplit: 12 * 130 * 4,
    maxStateBytes: 128 << 20,
    minSplitTokens: 256,
    busyWorkgroups: 16,
  };
  for (const numRows of [1, 16, 512]) {
    for (const maxContext of [1, 200, 4096, 32768, 131072]) {
      const plan = attentionPlan({ ...base, numRows, maxContext, maxSplitTokens: 200 });
      assertEquals(plan.splitTokens <= 200, true);
      // the windows' splits cover the whole context
      assertEquals(plan.windows * plan.splits * plan.splitTokens >= maxContext, true);
      assertEquals((plan.windows - 1) * plan.splits * plan.splitTokens < maxContext, true);
    }
  }
  // one sequence: parallel splits until 16 workgroups; a batch of 16 needs none
  assertEquals(attentionPlan({ ...base, numRows: 1, maxContext: 4096, maxSplitTokens: 200 }), {
    rows: 1,
    splits: 8,
    splitTokens: 200,
    windows: 3,
  });
  assertEquals(
    attentionPlan({ ...base, numRows: 16, maxContext: 4096, maxSplitTokens: Infinity }),
    { rows: 16, splits: 1, splitTokens: 4096, windows: 1 },
  );
  // the state scratch bounds the splits
  assertEquals(
    attentionPlan({
      ...base,
      maxStateBytes: 3 * base.stateBytesPerSplit,
      numRows: 1,
      maxContext: 4096,
      maxSplitTokens: Infinity,
    }).splits,
    3,
  );
});

Deno.test("maxSplitTokens() stays within the loop bound by the kernel's loop count", () => {
  const shape = { numHeads: 12, numKvHeads: 2, headDim: 128, qkvStride: 0 };
  const k = attentionKernelShape(shape, 16, 8, 16384);
  assertEquals(k, { lanes: 8, channelsPerLane: 16, group: 6 });
  const m = { bound: 65535, lanes: k.lanes, channelsPerLane: 16, group: 6, blockSize: 16 };
  const t = maxSplitTokens(m);
  // every block may be cut short by a phase change: still within the bound
  assertEquals(loopIterations(m, t, Math.ceil(t / 16) + 17) <= 65535, true);
  assertEquals(t >= 128, true);
});

Deno.test("attentionKernelShape() fits lanes to head_dim, GQA group and workgroup memory", () => {
  const shape = (numHeads: number, numKvHeads: number, headDim: number) => ({
    numHeads,
    numKvHeads,
    headDim,
    qkvStride: 0,
  });
  // channels per lane stay even: head_dim 8 gets 4 lanes of 2
  assertEquals(attentionKernelShape(shape(2, 2, 8), 16, 8, 16384).lanes, 4);
  assertEquals(attentionKernelShape(shape(12, 2, 128), 16, 32, 16384).lanes, 32);
  // a 16-head group needs more lanes to fit a lane's accumulators, then workgroup memory
  assertEquals(attentionKernelShape(shape(16, 1, 128), 16, 8, 32768).lanes, 16);
  assertThrows(
    () => attentionKernelShape(shape(16, 1, 128), 16, 8, 16384),
    RangeError,
    "workgroup memory",
  );
  assertThrows(() => attentionKernelShape(shape(3, 1, 7), 16, 8, 16384), RangeError, "even");
  assertThrows(
    () => attentionKernelShape(shape(32, 1, 128), 16, 8, 16384),
    RangeError,
    "at most 16",
  );
});
