import { assertEquals } from "@std/assert";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import type { ArchName, TensorDtype } from "../src/model/spec.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { GPU_PROFILE, type KernelProfile } from "../src/gpu/profile.ts";
import { assertClose, testGpu } from "./helpers/gpu_harness.ts";
import {
  decodeStep,
  generatePipelined,
  prefillStep,
  sequentialBlocks,
} from "./helpers/runner_harness.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";
import { ReferenceModel } from "./reference/forward.ts";

// The GPU rounds the same weights and K/V to f16 as the reference (f16Weights, f16Kv); what is
// left is f32 summation order, RoPE angles in f32 and f16 weights of tiny models with logits of
// order 1-10. Attention sums q·k in per-lane partial sums, an order the reference's sequential
// f32 sum does not share: measured up to 1.1e-4 on qwen2 (its q/k biases make scores large),
// against 1e-5 with one lane summing in the reference's order. A wrong index or term moves
// logits by 1e-2 or more, so 3e-4 still catches it.
const LOGIT_ATOL = 3e-4;
const PROMPT = [3, 17, 5, 42, 8, 1, 29];
const GREEDY_TOKENS = 32;

async function checkAgainstReference(
  arch: ArchName,
  dtype: TensorDtype,
  profile?: KernelProfile,
  rotation?: { headDim: number; rotateKv: boolean },
) {
  const dir = await makeTinyCheckpoint({
    arch,
    dtype,
    seed: 7,
    withTokenizer: false,
    headDim: rotation?.headDim,
  });
  const gpu = await testGpu({ profile });
  try {
    const ckpt = await loadCheckpoint(dir);
    const rotateKv = rotation?.rotateKv ?? false;
    const ref = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true, rotateKv });
    const runner = await ModelRunner.create(gpu, ckpt, {
      rotateKv,
      blockSize: 4,
      kvPoolBytes: 64 * 1024,
      maxNumSeqs: 2,
      maxRowsPerStep: 16,
      minSplitTokens: 8,
    });
    try {
      // prefill: every prompt row in one step
      const blocks = sequentialBlocks(runner, PROMPT.length + 4);
      const first = await runner.step(prefillStep(runner, blocks, PROMPT, { returnLogits: true }));
      let expected: Float32Array = new Float32Array(0);
      PROMPT.forEach((t, p) => expected = ref.forward(t, p));
      assertClose(first.logits!, expected, LOGIT_ATOL, 0, "prefill logits");
      // decode: the token comes from the slot on the GPU
      let token = first.tokens[0];
      for (let i = 0; i < 4; i++) {
        const pos = PROMPT.length + i;
        const r = await runner.step(decodeStep(runner, blocks, pos, i + 1, { returnLogits: true }));
        assertClose(r.logits!, ref.forward(token, pos), LOGIT_ATOL, 0, `decode ${i} logits`);
        token = r.tokens[0];
      }
      const gpuTokens = await generatePipelined(runner, PROMPT, GREEDY_TOKENS);
      assertEquals(gpuTokens, ref.generateGreedy(PROMPT, GREEDY_TOKENS));
    } finally {
      runner.destroy();
    }
  } finally {
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

for (const arch of ["llama", "qwen2", "qwen3"] as ArchName[]) {
  for (const dtype of ["F32", "F16", "BF16"] as TensorDtype[]) {
    Deno.test(
      `ModelRunner (${arch}, ${dtype}) logits and greedy tokens match the reference`,
      () => checkAgainstReference(arch, dtype),
    );
  }
}

Deno.test(
  "ModelRunner with the GPU kernel family (wide workgroups, reductions) matches the reference",
  () => checkAgainstReference("qwen3", "BF16", GPU_PROFILE),
);

Deno.test(
  "ModelRunner keeping K and V rotated matches the rotated reference (f16 cache, head_dim 32)",
  () => checkAgainstReference("qwen3", "F16", undefined, { headDim: 32, rotateKv: true }),
);

Deno.test(
  "ModelRunner rotates by default at head_dim 32 and still matches the plain reference",
  async () => {
    const dir = await makeTinyCheckpoint({
      arch: "qwen3",
      seed: 7,
      withTokenizer: false,
      headDim: 32,
    });
    const gpu = await testGpu();
    try {
      const ckpt = await loadCheckpoint(dir);
      const ref = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true });
      const runner = await ModelRunner.create(gpu, ckpt, {
        blockSize: 4,
        kvPoolBytes: 64 * 1024,
        maxNumSeqs: 1,
        maxRowsPerStep: 16,
      });
      try {
        assertEquals(runner.rotatesKv, true);
        // the rotation only moves f16 rounding of K and V: greedy tokens are those of the model
        const gpuTokens = await generatePipelined(runner, PROMPT, GREEDY_TOKENS);
        assertEquals(gpuTokens, ref.generateGreedy(PROMPT, GREEDY_TOKENS));
      } finally {
        runner.destroy();
      }
    } finally {
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
