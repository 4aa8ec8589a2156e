import { assertEquals, assertGreater, assertLess } from "@std/assert";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { testGpu } from "./helpers/gpu_harness.ts";
import { generatePipelined } from "./helpers/runner_harness.ts";
import { ReferenceModel } from "./reference/forward.ts";

const MODEL_DIR = new URL("../../shared/models/stories260k", import.meta.url).pathname;
const present = await Deno.stat(`${MODEL_DIR}/config.json`).then(() => true, () => false);
const PROMPTS = ["Once upon a time", "The little dog", "Lily and Ben went to the park"];
const NEW_TOKENS = 64;

Deno.test({
  name: "ModelRunner on stories260k: greedy tokens equal the reference's for several prompts",
  ignore: !present,
  async fn() {
    const ckpt = await loadCheckpoint(MODEL_DIR);
    const tokenizer = await loadTokenizer(MODEL_DIR);
    const ref = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true });
    const gpu = await testGpu();
    const runner = await ModelRunner.create(gpu, ckpt, {
      kvPoolBytes: 1 << 20,
      maxNumSeqs: 1,
      maxRowsPerStep: 32,
    });
    try {
      for (const prompt of PROMPTS) {
        const ids = tokenizer.encode(prompt);
        const got = await generatePipelined(runner, ids, NEW_TOKENS);
        assertEquals(got, ref.generateGreedy(ids, NEW_TOKENS), prompt);
        // A real model continues with varied text, not one repeated id.
        assertGreater(new Set(got).size, 8, tokenizer.decode(got));
      }
    } finally {
      runner.destroy();
      gpu.destroy();
    }
  },
});

Deno.test({
  name: "ModelRunner on stories260k with int8 and int4 weights: fewer bytes, int8 close to f16",
  ignore: !present,
  async fn() {
    const ckpt = await loadCheckpoint(MODEL_DIR);
    const tokenizer = await loadTokenizer(MODEL_DIR);
    const gpu = await testGpu();
    const opts = { kvPoolBytes: 1 << 20, maxNumSeqs: 1, maxRowsPerStep: 32 };
    const runs: Record<string, { ids: number[][]; bytes: number }> = {};
    try {
      for (const weightsDtype of ["f16", "int8", "int4"] as const) {
        const runner = await ModelRunner.create(gpu, ckpt, { ...opts, weightsDtype });
        try {
          const ids = [];
          for (const p of PROMPTS) {
            ids.push(await generatePipelined(runner, tokenizer.encode(p), NEW_TOKENS / 2));
          }
          runs[weightsDtype] = { ids, bytes: runner.weightBytes };
        } finally {
          runner.destroy();
        }
      }
    } finally {
      gpu.destroy();
    }
    // The f16 embedding table stays for lookups; every other matrix shrinks.
    assertLess(runs.int8.bytes, 0.7 * runs.f16.bytes);
    assertLess(runs.int4.bytes, 0.45 * runs.f16.bytes);
    const agree = (a: number[][], b: number[][]) => {
      let same = 0;
      a.forEach((ids, i) => ids.forEach((id, t) => same += id === b[i][t] ? 1 : 0));
      return same / a.flat().length;
    };
    // bench/weights_agreement.ts measures 85% over 8 prompts x 64 tokens.
    assertGreater(agree(runs.int8.ids, runs.f16.ids), 0.75);
    for (const ids of runs.int4.ids) assertGreater(new Set(ids).size, 4, tokenizer.decode(ids));
  },
});
