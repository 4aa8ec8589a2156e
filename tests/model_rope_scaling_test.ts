import { assert, assertAlmostEquals, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { parseRopeScaling } from "../src/model/rope_scaling.ts";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { ConfigFieldError } from "../src/model/errors.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { ropeParameters } from "../src/runner/rope_freq.ts";
import { assertClose, testGpu } from "./helpers/gpu_harness.ts";
import { generatePipelined, prefillStep, sequentialBlocks } from "./helpers/runner_harness.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";
import { ReferenceModel } from "./reference/forward.ts";
import { type RopeConfig, ropeOracle } from "./reference/rope_scaling.ts";

const FIXTURE = new URL("../../shared/fixtures/rope/llama3_inv_freq.json", import.meta.url);

function relClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, what: string) {
  assertEquals(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.abs(want[i]);
    assert(err <= rtol, `${what}[${i}]: ${got[i]} vs ${want[i]} (rel ${err})`);
  }
}

function params(c: RopeConfig) {
  return ropeParameters({
    headDim: c.head_dim,
    ropeTheta: c.rope_theta,
    maxPositionEmbeddings: c.max_position_embeddings,
    ropeScaling: parseRopeScaling(c.rope_scaling),
  });
}

Deno.test("llama3 rope_scaling gives the fixture's Llama-3.1 inverse frequencies", async () => {
  const f = JSON.parse(await Deno.readTextFile(FIXTURE));
  const c: RopeConfig = {
    head_dim: f.head_dim,
    rope_theta: f.rope_theta,
    max_position_embeddings: 131072,
    rope_scaling: f.rope_scaling,
  };
  const p = params(c);
  // f32 storage: one rounding of a float64 value.
  relClose(p.invFreq, f.inv_freq, 2 ** -23, "inv_freq");
  relClose(ropeOracle(c).invFreq, f.inv_freq, 1e-12, "oracle inv_freq");
  assertEquals(p.attentionFactor, 1);
  // The bands: highest frequencies kept, lowest divided by the factor, a smooth band between.
  assertEquals(f.inv_freq[0], f.inv_freq_unscaled[0]);
  assertAlmostEquals(f.inv_freq[63], f.inv_freq_unscaled[63] / 8, 1e-18);
});

Deno.test("yarn rope_scaling matches transformers' _compute_yarn_parameters, attention factor included", () => {
  const qwen3: RopeConfig = {
    head_dim: 128,
    rope_theta: 1e6,
    max_position_embeddings: 131072,
    rope_scaling: { rope_type: "yarn", factor: 4.0, original_max_position_embeddings: 32768 },
  };
  const deepseek: RopeConfig = {
    head_dim: 64,
    rope_theta: 10000,
    max_position_embeddings: 163840,
    rope_scaling: {
      type: "yarn",
      factor: 40,
      original_max_position_embeddings: 4096,
      beta_fast: 32,
      beta_slow: 1,
      mscale: 1.0,
      mscale_all_dim: 0.8,
    },
  };
  const explicit: RopeConfig = {
    head_dim: 32,
    rope_theta: 10000,
    max_position_embeddings: 4096,
    rope_scaling: { rope_type: "yarn", factor: 2.0, attention_factor: 1.5, truncate: false },
  };
  for (const [name, c] of Object.entries({ qwen3, deepseek, explicit })) {
    const want = ropeOracle(c);
    const got = params(c);
    relClose(got.invFreq, want.invFreq, 2 ** -23, `${name} inv_freq`);
    assertAlmostEquals(got.attentionFactor, want.attentionFactor, 1e-12, name);
  }
  // Values a reader can check by hand: 0.1 ln 4 + 1, and the explicit factor.
  assertAlmostEquals(params(qwen3).attentionFactor, 0.1 * Math.log(4) + 1, 1e-12);
  assertEquals(params(explicit).attentionFactor, 1.5);
  // High frequencies extrapolate (unchanged), low ones interpolate (divided by the factor).
  const q = params(qwen3);
  assertEquals(q.invFreq[0], 1);
  assertAlmostEquals(q.invFreq[63], Math.fround(1e6 ** (-126 / 128) / 4), 1e-12);
});

Deno.test("a bad or unknown rope_scaling is a ConfigFieldError naming rope_scaling", async () => {
  assertThrows(
    () => parseRopeScaling({ rope_type: "longrope", factor: 2 }),
    RangeError,
    "longrope",
  );
  assertThrows(() => parseRopeScaling({ rope_type: "llama3", factor: 8 }), RangeError, "low_freq");
  assertEquals(parseRopeScaling({ rope_type: "default" }), null);
  const dir = await makeTinyCheckpoint({
    withTokenizer: false,
    ropeScaling: { rope_type: "yarn", factor: -1 },
  });
  try {
    await assertRejects(() => loadCheckpoint(dir), ConfigFieldError, "rope_scaling");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const SCALINGS: Record<string, Record<string, unknown>> = {
  // Small original contexts so the scaled bands reach the head's 8 frequencies.
  llama3: {
    rope_type: "llama3",
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 16,
  },
  yarn: { rope_type: "yarn", factor: 4.0, original_max_position_embeddings: 16 },
};

for (const [type, ropeScaling] of Object.entries(SCALINGS)) {
  Deno.test(`a checkpoint with rope_scaling ${type} loads and the GPU matches its oracle`, async () => {
    const dir = await makeTinyCheckpoint({
      arch: type === "yarn" ? "qwen3" : "llama",
      seed: 9,
      withTokenizer: false,
      maxPositionEmbeddings: 64,
      ropeScaling,
    });
    const gpu = await testGpu();
    try {
      const ckpt = await loadCheckpoint(dir);
      assertEquals(ckpt.spec.ropeScaling?.type, type);
      const rope = ropeOracle({
        head_dim: ckpt.spec.headDim,
        rope_theta: ckpt.spec.ropeTheta,
        max_position_embeddings: ckpt.spec.maxPositionEmbeddings,
        rope_scaling: ropeScaling,
      });
      const ref = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true, rope });
      const unscaled = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true });
      const runner = await ModelRunner.create(gpu, ckpt, {
        blockSize: 4,
        kvPoolBytes: 64 * 1024,
        maxNumSeqs: 1,
        maxRowsPerStep: 32,
      });
      try {
        const prompt = Array.from({ length: 24 }, (_, i) => (i * 7 + 3) % 50);
        const blocks = sequentialBlocks(runner, prompt.length + 4);
        const r = await runner.step(prefillStep(runner, blocks, prompt, { returnLogits: true }));
        let want: Float32Array = new Float32Array(0);
        let plain: Float32Array = new Float32Array(0);
        prompt.forEach((t, p) => {
          want = ref.forward(t, p);
          plain = unscaled.forward(t, p);
        });
        assertClose(r.logits!, want, 1e-4, 0, "prefill logits");
        // The scaling is visible: unscaled RoPE gives other logits.
        assert(plain.some((v, i) => Math.abs(v - want[i]) > 1e-3), "scaling changed nothing");
        const ids = await generatePipelined(runner, prompt, 8);
        assertEquals(ids, ref.generateGreedy(prompt, 8));
      } finally {
        runner.destroy();
      }
    } finally {
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
