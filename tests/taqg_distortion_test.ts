import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { attentionDistortion, nextTokenKl, samplePositions } from "../src/taqg/distortion.ts";
import { syntheticTrace } from "./helpers/synthetic_trace.ts";
import { type KvTrace, splitBlocks } from "../src/taqg/trace.ts";

// KL of [1/2, 1/2] against [3/4, 1/4]: ½ln(⅔) + ½ln(2) = ½ln(4/3)
const HALF_LN_4_3 = 0.5 * Math.log(4 / 3);

/** One layer, one head, headDim 1, two tokens (think, answer): the smallest hand-checkable case. */
function tinyTrace(): KvTrace {
  return {
    numLayers: 1,
    numKvHeads: 1,
    numHeads: 1,
    headDim: 1,
    tokens: 2,
    phases: ["think", "answer"],
    keys: [Float32Array.from([0, 0])],
    values: [Float32Array.from([1, 0])],
    queries: [Float32Array.from([1, 1])],
  };
}

Deno.test("nextTokenKl() gives the hand-computed KL of a two-token shift", () => {
  const ref = Float32Array.from([0, 0, 5, 5]);
  const quant = Float32Array.from([Math.log(3), 0, 5, 5]);
  const kl = nextTokenKl(ref, quant, 2);
  assertAlmostEquals(kl[0], HALF_LN_4_3, 1e-7);
  assertEquals(kl[1], 0);
});

Deno.test("nextTokenKl() is stable for huge logits and refuses mismatched shapes", () => {
  const kl = nextTokenKl(
    Float32Array.from([1000, 1000]),
    Float32Array.from([2000 + Math.log(3), 2000]),
    2,
  );
  assertAlmostEquals(kl[0], HALF_LN_4_3, 1e-4);
  assertThrows(() => nextTokenKl(new Float32Array(4), new Float32Array(6), 2), RangeError);
});

Deno.test("attentionDistortion() is zero for an identical cache", () => {
  const trace = syntheticTrace({
    numLayers: 2,
    numKvHeads: 2,
    numHeads: 4,
    headDim: 16,
    counts: { prompt: 8, think: 24, answer: 8 },
    rho: { prompt: 0.5, think: 0.5, answer: 0.5 },
    seed: 1,
  });
  const s = attentionDistortion(
    trace,
    { keys: trace.keys, values: trace.values },
    splitBlocks(trace.phases, 16),
  );
  for (const layer of [...s.kl, ...s.outputError]) {
    for (const x of layer) assertAlmostEquals(x, 0, 1e-12);
  }
  // 32 generated positions × 4 query heads per layer
  assertEquals(s.kl[0].length, 128);
});

Deno.test("attentionDistortion() gives the hand-computed KL and output error, causally", () => {
  const trace = tinyTrace();
  // token 0 quantized to a key of ln 3: the query at t=1 weighs it 3:1; its value stays 1
  const cache = {
    keys: [Float32Array.from([Math.log(3), 0])],
    values: [Float32Array.from([1, 0])],
  };
  const s = attentionDistortion(trace, cache, splitBlocks(trace.phases, 16));
  // t=0 sees only its own open block; t=1 sees token 0 sealed (the phase changed)
  assertEquals(s.kl[0][0], 0);
  assertAlmostEquals(s.kl[0][1], HALF_LN_4_3, 1e-7);
  // o_ref = ½, o_quant = ¾
  assertAlmostEquals(s.outputError[0][1], 0.5, 1e-7);
});

Deno.test("attentionDistortion() keeps the query's own block in f16", () => {
  const trace = { ...tinyTrace(), phases: ["think", "think"] as KvTrace["phases"] };
  const cache = {
    keys: [Float32Array.from([Math.log(3), 5])],
    values: [Float32Array.from([9, 9])],
  };
  const s = attentionDistortion(trace, cache, splitBlocks(trace.phases, 16));
  assertEquals(s.kl[0], [0, 0]);
  assertEquals(s.outputError[0], [0, 0]);
});

Deno.test("attentionDistortion() reports the relative error of a known value perturbation", () => {
  const trace = syntheticTrace({
    numLayers: 1,
    numKvHeads: 1,
    numHeads: 2,
    headDim: 16,
    counts: { prompt: 0, think: 40, answer: 0 },
    rho: { prompt: 0, think: 0.3, answer: 0 },
    seed: 4,
  });
  // the last token (the query's own, f16 block) carries a zero value, so every other value is
  // sealed: scaling them by 1.1 with exact keys gives o_quant = 1.1·o_ref, an error of exactly 0.1
  const values = trace.values[0];
  values.fill(0, values.length - 16);
  const cache = { keys: trace.keys, values: [values.map((v) => v * 1.1)] };
  const s = attentionDistortion(trace, cache, splitBlocks(trace.phases, 1), 40);
  for (const x of s.kl[0]) assertAlmostEquals(x, 0, 1e-12);
  const last = s.outputError[0].slice(-2);
  for (const e of last) assertAlmostEquals(e, 0.1, 1e-6);
});

Deno.test("samplePositions() spreads positions evenly and keeps the last", () => {
  assertEquals(samplePositions([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 5), [1, 3, 5, 7, 9]);
  assertEquals(samplePositions([4, 7, 9], 32), [4, 7, 9]);
});

Deno.test("attentionDistortion() samples queries from generated tokens only", () => {
  const trace = { ...tinyTrace(), phases: ["prompt", "answer"] as KvTrace["phases"] };
  const cache = {
    keys: [Float32Array.from([Math.log(3), 0])],
    values: [Float32Array.from([1, 0])],
  };
  const s = attentionDistortion(trace, cache, splitBlocks(trace.phases, 16));
  assertEquals(s.kl[0].length, 1);
  assertAlmostEquals(s.kl[0][0], HALF_LN_4_3, 1e-7);
});
