/**
 * The batch runner on the served kernels: batched greedy generation equals one sequence alone,
 * teacher forcing on the model's own tokens reproduces them, sealing moves the logits as the
 * dtype gets smaller, and the recent window keeps the newest tokens f16.
 */
import { assert, assertEquals } from "@std/assert";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { generateOne } from "../src/runner/single_sequence.ts";
import { GREEDY } from "../src/runner/types.ts";
import { openServedModel } from "../src/taqg/served_model.ts";
import { BatchRunner } from "../src/taqg/batch_runner.ts";
import { compareLogits, forcedLogits, type Trace } from "../src/taqg/sensitivity.ts";
import { heldBytes } from "../src/taqg/served_bytes.ts";
import type { Phase } from "../src/kv/types.ts";
import { testGpu } from "./helpers/gpu_harness.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";

const PROMPTS = [[5, 9, 2, 33, 17, 4, 8], [11, 3], [
  40,
  41,
  42,
  43,
  44,
  45,
  46,
  47,
  48,
  49,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
]];
const MAX = 40;

Deno.test("BatchRunner: batched greedy = alone; teacher forcing reproduces it; seals and the window", async () => {
  const dir = await makeTinyCheckpoint({
    arch: "llama",
    dtype: "F32",
    seed: 9,
    withTokenizer: false,
  });
  const gpu = await testGpu();
  try {
    const ckpt = await loadCheckpoint(dir);
    const alone: number[][] = [];
    const single = await openServedModel(ckpt, { maxSequenceTokens: 64, sealedRegions: 0, gpu });
    try {
      for (const p of PROMPTS) {
        alone.push(
          (await generateOne(single.runner, p, {
            maxTokens: MAX,
            sampling: GREEDY,
            maxRowsPerStep: 64,
          })).ids,
        );
      }
    } finally {
      single.destroy();
    }
    const runner = await BatchRunner.open(ckpt, {
      maxSeqs: 3,
      maxTokens: 64,
      maxPromptRows: 64,
      markers: { openId: null, closeId: null },
      gpu,
    });
    try {
      const seqs = PROMPTS.map((promptIds) => ({ promptIds, startsInThink: false }));
      const f16 = await runner.run(seqs, { dtypeOf: () => "f16", recentTokens: 0, maxTokens: MAX });
      assertEquals(f16.map((r) => r.ids), alone);
      // no markers: the think-fraction rule, 0.75 of max tokens think
      assertEquals(f16[0].phases.filter((p) => p === "think").length, 0.75 * MAX);
      const traces: Trace[] = PROMPTS.map((promptIds, i) => ({
        promptIds,
        startsInThink: false,
        ids: f16[i].ids,
        phases: [...promptIds.map((): Phase => "prompt"), ...f16[i].phases],
      }));
      // held bytes: what the table held at the end, as served_bytes counts it
      traces.forEach((t, i) => {
        const bytes = heldBytes(t.phases, () => "f16", 0, {
          layout: runner.layout,
          numLayers: ckpt.spec.numLayers,
        });
        assertEquals(f16[i].kvBytes, bytes);
      });
      const reference = await forcedLogits(runner, traces, () => "f16", 0);
      assertEquals(compareLogits(reference, reference).flips, 0);
      // teacher forcing the model's own tokens: every row's top-1 is the token greedy picked
      const same = compareLogits(reference, await forcedLogits(runner, traces, () => "f16", 16));
      assertEquals(same.klMax, 0);
      const int8 = compareLogits(reference, await forcedLogits(runner, traces, () => "int8", 0));
      const int2 = compareLogits(reference, await forcedLogits(runner, traces, () => "int2", 0));
      assert(
        int8.klMean > 0 && int8.klMean < int2.klMean,
        `KL int8 ${int8.klMean}, int2 ${int2.klMean}`,
      );
      // a window longer than every sequence keeps every block f16: int2 then changes nothing
      const windowed = compareLogits(
        reference,
        await forcedLogits(runner, traces, () => "int2", 64),
      );
      assertEquals(windowed.klMax, 0);
      // a 16-token window changes something, but less than sealing at once
      const w16 = compareLogits(reference, await forcedLogits(runner, traces, () => "int2", 16));
      assert(w16.klMean < int2.klMean, `window 16 ${w16.klMean}, none ${int2.klMean}`);
    } finally {
      runner.destroy();
    }
  } finally {
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
});
