import { assert, assertAlmostEquals, assertEquals, assertNotEquals } from "@std/assert";
import {
  headAveragedKeys,
  paperAttentionKl,
  paperQuantizedCache,
  paperRedundancy,
  perTensorMinMax,
} from "../src/taqg/paper_baseline.ts";
import { syntheticTrace } from "../src/taqg/synthetic.ts";
import type { KvTrace } from "../src/taqg/trace.ts";

function trace(counts = { prompt: 8, think: 30, answer: 10 }): KvTrace {
  return syntheticTrace({
    numLayers: 2,
    numKvHeads: 2,
    numHeads: 2,
    headDim: 16,
    counts,
    rho: { prompt: 0.2, think: 0.5, answer: 0.6 },
    seed: 9,
  });
}

Deno.test("perTensorMinMax() uses one min–max grid over the whole tensor", () => {
  assertEquals([...perTensorMinMax(Float32Array.from([0, 1, 2, 3]), 2)], [0, 1, 2, 3]);
  assertEquals([...perTensorMinMax(Float32Array.from([0, 0.4, 1]), 1)], [0, 0, 1]);
  // 3 bits over [-1, 6]: step 1
  assertEquals([...perTensorMinMax(Float32Array.from([-1, 0.4, 2.6, 6]), 3)], [-1, 0, 3, 6]);
  assertEquals([...perTensorMinMax(Float32Array.from([2, 2]), 2)], [2, 2]);
  assertEquals([...perTensorMinMax(Float32Array.from([0.1, 0.7]), 16)], [
    ...Float32Array.from([0.1, 0.7]),
  ]);
});

Deno.test("headAveragedKeys() averages KV heads over the generated tokens only", () => {
  const t = trace();
  const k = headAveragedKeys(t, 1);
  assertEquals(k.length, 40 * 16);
  const at = (8 + 3) * 2 * 16 + 5;
  assertAlmostEquals(k[3 * 16 + 5], (t.keys[1][at] + t.keys[1][at + 16]) / 2, 1e-6);
});

Deno.test("paperAttentionKl() is zero at 16 bits and counts bits as the paper does", () => {
  const t = trace();
  assertAlmostEquals(paperAttentionKl(t, 16, 16).kl.mean, 0, 1e-12);
  const split = paperAttentionKl(t, 4, 3);
  // α = 30 / 40 over generated tokens: 0.75·4 + 0.25·3, no scale bytes
  assertAlmostEquals(split.alpha, 0.75, 1e-12);
  assertAlmostEquals(split.bitsPerElement, 3.75, 1e-12);
  assertEquals(split.kl.count, 2);
  assert(paperAttentionKl(t, 2, 2).kl.mean > paperAttentionKl(t, 4, 4).kl.mean);
});

Deno.test("paperAttentionKl() skips layers as the paper's guards do", () => {
  // one answer token: t* ≥ n − 1, so every layer is skipped
  assertEquals(paperAttentionKl(trace({ prompt: 4, think: 20, answer: 1 }), 4, 3).kl.count, 0);
});

Deno.test("paperQuantizedCache() quantizes keys per phase tensor and leaves values alone", () => {
  const t = trace();
  const cache = paperQuantizedCache(t, { prompt: 4, think: 4, answer: 3 });
  assertEquals(cache.values, t.values);
  assertNotEquals(cache.keys[0], t.keys[0]);
  // int3 over the answer tensor: at most 8 distinct key values among the answer tokens
  const answer = cache.keys[0].subarray(38 * 32);
  assert(new Set(answer).size <= 8);
});

Deno.test("paperRedundancy() measures ρ on head-averaged keys either side of t*", () => {
  // one KV head, so head-averaged keys are the keys themselves
  const t = syntheticTrace({
    numLayers: 2,
    numKvHeads: 1,
    numHeads: 1,
    headDim: 256,
    counts: { prompt: 8, think: 120, answer: 60 },
    rho: { prompt: 0.9, think: 0.463, answer: 0.544 },
    seed: 13,
  });
  const rho = paperRedundancy(t);
  assertAlmostEquals(rho.think, 0.463, 0.02);
  assertAlmostEquals(rho.answer, 0.544, 0.02);
});
