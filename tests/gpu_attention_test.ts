import { assertEquals, assertThrows } from "@std/assert";
import { AttentionOp, attentionSplits } from "../src/runner/ops/attention.ts";
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
  expectSplits: (splits: number) => boolean,
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
        table.set([word, 0, n, 0], (s * maxBlocks + b) * TABLE_WORDS);
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
    });
    const splits = op.splitsFor(rowList.length, Math.max(...contexts));
    assertEquals(expectSplits(splits), true, `splits ${splits}`);
    const params = createCounts(gpu.device, "params", 1);
    writeCount(gpu.device, params, 0, rowList.length, splits);
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
          params: countSlot(params, 0),
        },
        rowList.length,
        splits,
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
    checkAttention(heads, kvHeads, [13, 7, 1], 1 << 20, (s) => s === 1));
  Deno.test(`AttentionOp over shuffled f16 blocks, GQA ${heads / kvHeads}, split-K`, () =>
    checkAttention(heads, kvHeads, [29, 18, 5], 4, (s) => s > 1));
}

Deno.test("AttentionOp maps positions through partly filled blocks (closed at phase changes)", () =>
  checkAttention(4, 2, [29, 18, 5], 4, (s) => s > 1, "kv_decode", true));

Deno.test({
  name: "AttentionOp built with the KV module's kv_decode.wgsl reads f16 blocks the same way",
  ignore: !(await Deno.stat(new URL("../kernels/kv_decode.wgsl", import.meta.url)).then(
    () => true,
    () => false,
  )),
  fn: () => checkAttention(4, 2, [29, 18, 5], 4, (s) => s > 1, "kv_decode"),
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
        op.encode(pass, [storage(gpu, qkv), storage(gpu, rows), pool, countSlot(count, 0)], 3),
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

Deno.test("attentionSplits() keeps software adapters under their loop bound, or refuses", () => {
  const base = {
    numHeads: 6,
    headDim: 16,
    minSplitTokens: 256,
    maxLoopIterations: 65535,
    lanes: 8,
  };
  // 2048 tokens × 33 iterations: two groups of 8 lanes, each covering half the context
  assertEquals(attentionSplits({ ...base, numRows: 1, maxContext: 2048 }), 16);
  // under the bound: the GPU rule (one split per 256 tokens)
  assertEquals(attentionSplits({ ...base, numRows: 1, maxContext: 1500 }), 6);
  assertEquals(attentionSplits({ ...base, numRows: 64, maxContext: 200 }), 1);
  assertEquals(
    attentionSplits({ ...base, maxLoopIterations: null, numRows: 64, maxContext: 4000 }),
    1,
  );
  assertThrows(
    () => attentionSplits({ ...base, numRows: 64, maxContext: 2048 }),
    RangeError,
    "loop bound",
  );
});
