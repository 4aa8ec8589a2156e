import { assertEquals, assertGreater } from "@std/assert";
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
