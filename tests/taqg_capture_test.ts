import { assert, assertEquals } from "@std/assert";
import type { Phase } from "../src/kv/types.ts";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { captureSequence, type TokenSequence } from "../src/taqg/capture.ts";
import { openServedModel } from "../src/taqg/served_model.ts";
import { validateTrace } from "../src/taqg/trace.ts";
import { assertClose, testGpu } from "./helpers/gpu_harness.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";
import { ReferenceModel } from "./reference/forward.ts";
import { kvDtype } from "../src/kv/dtype.ts";
import { decodeBlock, encodeBlock } from "./reference/kv_codec.ts";

/** Round trip of one (numTokens, headDim) block of one KV head through the oracle codec. */
function oracleQuantize(
  block: Float32Array,
  numTokens: number,
  headDim: number,
  kind: "key" | "value",
  dtype: string,
): Float32Array {
  const layout = { numKvHeads: 1, blockSize: 16, headDim };
  const padded = new Float32Array(16 * headDim);
  padded.set(block);
  const other = new Float32Array(padded.length);
  const values = kind === "key" ? { k: padded, v: other } : { k: other, v: padded };
  const d = kvDtype(dtype);
  const decoded = decodeBlock(d, layout, encodeBlock(d, layout, values, numTokens));
  return (kind === "key" ? decoded.k : decoded.v).slice(0, numTokens * headDim);
}

// The runner and the reference round the same weights and K/V to f16; q differs only by f32
// summation order and RoPE angles in f32 (~1e-6 on these activations of order 1), and K/V may
// then land on the neighbouring f16 (one ulp, ~1e-3 at |x| ~ 1): 2e-3 still catches a wrong
// head, row, layer or position, which moves values by O(1).
const ATOL = 2e-3;

/** A sequence of 40 tokens over all three phases, with a block cut short at each phase change. */
function tinySequence(): TokenSequence {
  const ids = Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % 50);
  const phases = ids.map((_, i): Phase => (i < 11 ? "prompt" : i < 31 ? "think" : "answer"));
  return { ids, promptLength: 11, phases };
}

Deno.test("captured q/k/v equal the reference forward pass, and GPU seals equal the oracle codec", async () => {
  const dir = await makeTinyCheckpoint({
    arch: "qwen2",
    dtype: "F32",
    seed: 3,
    withTokenizer: false,
  });
  const gpu = await testGpu();
  try {
    const ckpt = await loadCheckpoint(dir);
    const model = await openServedModel(ckpt, { maxSequenceTokens: 48, sealedRegions: 2, gpu });
    try {
      const seq = tinySequence();
      const { trace, blocks, sealed } = await captureSequence(model, seq, ["int4", "int2"]);
      validateTrace(trace);
      assertEquals(blocks.map((b) => [b.start, b.end]), [[0, 11], [11, 27], [27, 31], [31, 40]]);
      const ref = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true });
      const { numHeads, numKvHeads, headDim } = trace;
      seq.ids.forEach((token, t) => {
        ref.forwardTrace(token, t).layers.forEach((layer, l) => {
          const slice = (a: Float32Array, n: number) =>
            a.subarray(t * n * headDim, (t + 1) * n * headDim);
          assertClose(slice(trace.queries[l], numHeads), layer.q, ATOL, 0, `q layer ${l} t ${t}`);
          assertClose(slice(trace.keys[l], numKvHeads), layer.k, ATOL, 0, `k layer ${l} t ${t}`);
          assertClose(slice(trace.values[l], numKvHeads), layer.v, ATOL, 0, `v layer ${l} t ${t}`);
        });
      });
      // the GPU seal and the CPU decode give what the oracle codec gives, block by block
      for (const dtype of ["int4", "int2"]) {
        const cache = sealed.get(dtype)!;
        for (const block of blocks) {
          for (let h = 0; h < numKvHeads; h++) {
            const n = block.end - block.start;
            const gather = (a: Float32Array) => {
              const out = new Float32Array(n * headDim);
              for (let t = 0; t < n; t++) {
                const at = ((block.start + t) * numKvHeads + h) * headDim;
                out.set(a.subarray(at, at + headDim), t * headDim);
              }
              return out;
            };
            const k = gather(trace.keys[1]);
            assertEquals(gather(cache.keys[1]), oracleQuantize(k, n, headDim, "key", dtype));
            const v = gather(trace.values[0]);
            assertEquals(gather(cache.values[0]), oracleQuantize(v, n, headDim, "value", dtype));
          }
        }
        assert(cache.keys[1].some((x, i) => x !== trace.keys[1][i]), `${dtype} changed nothing`);
      }
    } finally {
      model.destroy();
    }
  } finally {
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
});
