import { assertEquals } from "@std/assert";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { generateOne } from "../src/runner/single_sequence.ts";
import { GREEDY } from "../src/runner/types.ts";
import { testGpu } from "./helpers/gpu_harness.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";
import { ReferenceModel } from "./reference/forward.ts";

const PROMPT = [5, 6, 7, 8, 9, 10, 11];

Deno.test("generateOne prefills in row-budget chunks, stops at a stop id and keeps it", async () => {
  const dir = await makeTinyCheckpoint({ arch: "qwen2", seed: 11, withTokenizer: false });
  const gpu = await testGpu();
  try {
    const ckpt = await loadCheckpoint(dir);
    const expected = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true })
      .generateGreedy(PROMPT, 20);
    const runner = await ModelRunner.create(gpu, ckpt, {
      blockSize: 4,
      kvPoolBytes: 64 * 1024,
      maxNumSeqs: 1,
      maxRowsPerStep: 3,
    });
    try {
      const full = await generateOne(runner, PROMPT, {
        maxTokens: 20,
        maxRowsPerStep: 3,
        sampling: GREEDY,
      });
      assertEquals(full.ids, expected);
      const stopAt = expected.indexOf(expected[5]);
      const cut = await generateOne(runner, PROMPT, {
        maxTokens: 20,
        maxRowsPerStep: 3,
        sampling: GREEDY,
        stopIds: [expected[5]],
      });
      assertEquals(cut.ids, expected.slice(0, stopAt + 1));
    } finally {
      runner.destroy();
    }
  } finally {
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
});
