import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import type { LoadedCheckpoint } from "../src/model/spec.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { kvDtype } from "../src/kv/dtype.ts";
import { packStep, type StepLimits } from "../src/runner/step_pack.ts";
import { GREEDY, type SamplingParams, type SealOp, type StepInput } from "../src/runner/types.ts";
import type { BlockEntry } from "../src/kv/types.ts";
import type { Gpu } from "../src/gpu/device.ts";
import { readBack, testGpu } from "./helpers/gpu_harness.ts";
import { encodeBlock, unpackF16Block } from "./reference/kv_codec.ts";
import { sequentialBlocks } from "./helpers/runner_harness.ts";
import { withTokens } from "../src/runner/single_sequence.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";
import { ReferenceModel } from "./reference/forward.ts";

const LIMITS: StepLimits = {
  maxRows: 4,
  maxSeqs: 2,
  maxTableEntries: 8,
  vocabSize: 100,
  poolBytes: 4096,
  kv: { numKvHeads: 2, blockSize: 4, headDim: 8 },
};
const block = (offset: number, dtype = "f16", tokens = 4): BlockEntry => ({
  offset,
  dtype,
  phase: "prompt",
  tokens,
});
const seq = (blocks: BlockEntry[], sample = true) => ({
  slot: 0,
  blocks,
  sample,
  sampling: GREEDY,
  sampleIndex: 0,
});

Deno.test("packStep packs rows with their block word and in-block index, and the last row samples", () => {
  const p = packStep({
    seqs: [seq([block(0), block(256, "f16", 1)])],
    rows: [{ seq: 0, position: 3, token: 5 }, { seq: 0, position: 4, token: null }],
  }, LIMITS);
  assertEquals([...p.rows.subarray(0, 6)], [5, 3, 0, 0, 0, 3]);
  assertEquals([...p.rows.subarray(8, 14)], [0xffffffff, 4, 0, 0, 64, 0]);
  assertEquals([...p.table.subarray(0, 8)], [0, 0, 4, 0, 64, 0, 1, 4]);
  assertEquals([...p.sampleRows], [1]);
  assertEquals(p.maxContext, 5);
});

Deno.test("packStep maps positions through partly filled blocks (closed at a phase change)", () => {
  const p = packStep({
    seqs: [seq([block(0, "int4", 3), block(256, "f16", 2)])],
    rows: [{ seq: 0, position: 4, token: 5 }],
  }, LIMITS);
  // position 4 is the second token of the second block, not position 4 % blockSize = 0
  assertEquals([...p.rows.subarray(0, 6)], [5, 4, 0, 0, 64, 1]);
  // word 3: the cache position of the block's first token (attention searches it)
  assertEquals([...p.table.subarray(0, 8)], [0, kvDtype("int4").id, 3, 0, 64, 0, 2, 3]);
});

Deno.test("packStep rejects what the GPU could not run, naming the fault", () => {
  const bad: [string, StepInput][] = [
    ["writes into a int4 block", {
      seqs: [seq([block(0, "int4")])],
      rows: [{ seq: 0, position: 0, token: 1 }],
    }],
    ['Unknown KV cache dtype "fp9"', { seqs: [seq([block(0, "fp9")])], rows: [] }],
    ["outside the vocabulary", {
      seqs: [seq([block(0)])],
      rows: [{ seq: 0, position: 0, token: 100 }],
    }],
    ["past its sequence's blocks", {
      seqs: [seq([block(0)])],
      rows: [{ seq: 0, position: 4, token: 1 }],
    }],
    ["has no row", { seqs: [seq([block(0)])], rows: [] }],
    ["outside the KV pool", {
      seqs: [seq([block(4096)])],
      rows: [{ seq: 0, position: 0, token: 1 }],
    }],
    ["names sequence 1", { seqs: [seq([block(0)])], rows: [{ seq: 1, position: 0, token: 1 }] }],
    ["5 rows", {
      seqs: [seq([block(0), block(256)])],
      rows: [0, 1, 2, 3, 4].map((position) => ({ seq: 0, position, token: 1 })),
    }],
  ];
  for (const [message, input] of bad) {
    assertThrows(() => packStep(input, LIMITS), RangeError, message);
  }
});

async function withRunner(
  fn: (runner: ModelRunner, ckpt: LoadedCheckpoint, gpu: Gpu) => Promise<void>,
) {
  const dir = await makeTinyCheckpoint({ arch: "qwen3", seed: 3, withTokenizer: false });
  const gpu = await testGpu();
  try {
    const ckpt = await loadCheckpoint(dir);
    const runner = await ModelRunner.create(gpu, ckpt, {
      blockSize: 4,
      kvPoolBytes: 64 * 1024,
      maxNumSeqs: 3,
      maxRowsPerStep: 16,
    });
    try {
      await fn(runner, ckpt, gpu);
    } finally {
      runner.destroy();
    }
  } finally {
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Two sequences stepped together: one prefill step holding both prompts, then batched decodes. */
function batchedSteps(
  runner: ModelRunner,
  prompts: number[][],
  slots: number[],
  n: number,
  sampling: SamplingParams[],
): Promise<number[][]> {
  // Interleave the two sequences' blocks in the pool.
  const tables = prompts.map((p, s) =>
    sequentialBlocks(runner, p.length + n).map((b, i) => ({
      ...b,
      offset: (2 * i + s) * runner.blockBytes("f16"),
    }))
  );
  const steps = [];
  for (let i = 0; i < n; i++) {
    steps.push(runner.step({
      seqs: prompts.map((p, s) => ({
        slot: slots[s],
        blocks: withTokens(tables[s], runner.blockSize, i === 0 ? p.length : p.length + i),
        sample: true,
        sampling: sampling[s],
        sampleIndex: i,
      })),
      rows: i === 0
        ? prompts.flatMap((p, s) => p.map((token, position) => ({ seq: s, position, token })))
        : prompts.map((p, s) => ({ seq: s, position: p.length + i - 1, token: null })),
    }));
  }
  return Promise.all(steps).then((rs) => prompts.map((_, s) => rs.map((r) => r.tokens[s])));
}

Deno.test("ModelRunner batches a prefill of two sequences and their decodes like two runs alone", async () => {
  await withRunner(async (runner, ckpt) => {
    const ref = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true });
    const prompts = [[4, 9, 33, 2, 71], [12, 5]];
    const got = await batchedSteps(runner, prompts, [2, 0], 12, [GREEDY, GREEDY]);
    assertEquals(got[0], ref.generateGreedy(prompts[0], 12, 0));
    assertEquals(got[1], ref.generateGreedy(prompts[1], 12, 1));
  });
});

Deno.test("ModelRunner: a seeded sequence samples the same tokens alone and in a batch", async () => {
  await withRunner(async (runner) => {
    const mine: SamplingParams = { temperature: 1, topK: 0, topP: 0.9, minP: 0, seed: 42 };
    const other: SamplingParams = { temperature: 0.8, topK: 5, topP: 1, minP: 0, seed: 7 };
    const [alone] = await batchedSteps(runner, [[4, 9, 33]], [1], 10, [mine]);
    const [, batched] = await batchedSteps(runner, [[8, 8], [4, 9, 33]], [0, 2], 10, [other, mine]);
    assertEquals(batched, alone);
  });
});

Deno.test("ModelRunner seals with the registry's codecs and refuses unknown dtypes", async () => {
  await withRunner(async (runner, ckpt, gpu) => {
    const layout = { numKvHeads: ckpt.spec.numKvHeads, blockSize: 4, headDim: ckpt.spec.headDim };
    const blocks = withTokens(sequentialBlocks(runner, 4), runner.blockSize, 4);
    // prefill 4 tokens into block 0, then seal it into int4 at 4096 in every layer
    await runner.step({
      seqs: [{ slot: 0, blocks, sample: false, sampling: GREEDY, sampleIndex: 0 }],
      rows: [0, 1, 2, 3].map((position) => ({ seq: 0, position, token: position + 1 })),
    });
    const seal: SealOp = { src: 0, dst: 4096, dtype: "int4" };
    assertEquals((await runner.step({ seqs: [], rows: [], seals: [seal] })).tokens.length, 0);
    const int4 = kvDtype("int4");
    assertEquals(runner.blockBytes("int4"), int4.blockBytes(layout));
    assertEquals(runner.blockBytes("f16"), 2 * 2 * 4 * 16 * 2);
    for (const pool of runner.pools) {
      const words = new Uint32Array(await readBack(gpu, pool));
      const f16 = unpackF16Block(words.subarray(0, runner.blockBytes("f16") / 4), layout);
      const sealed = words.subarray(4096 / 4, (4096 + int4.blockBytes(layout)) / 4);
      assertEquals([...sealed], [...encodeBlock(int4, layout, f16)]);
    }
    const bad = { seqs: [], rows: [], seals: [{ ...seal, dtype: "fp9" }] };
    await assertRejects(() => runner.step(bad), RangeError, 'Unknown KV cache dtype "fp9"');
    assertThrows(() => runner.blockBytes("fp9"), RangeError, "fp9");
  });
});
