import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import {
  meanPairwiseCosine,
  measureRedundancy,
  summarizeRedundancy,
} from "../src/taqg/redundancy.ts";
import { createRng } from "../src/taqg/rng.ts";
import { syntheticTrace } from "./helpers/synthetic_trace.ts";

function bruteForceCosine(rows: Float32Array[], dim: number): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < rows.length; i++) {
    for (let j = i + 1; j < rows.length; j++) {
      let dot = 0;
      let ni = 0;
      let nj = 0;
      for (let d = 0; d < dim; d++) {
        dot += rows[i][d] * rows[j][d];
        ni += rows[i][d] ** 2;
        nj += rows[j][d] ** 2;
      }
      sum += dot / Math.sqrt(ni * nj);
      pairs++;
    }
  }
  return sum / pairs;
}

Deno.test("meanPairwiseCosine() equals the O(n²) pairwise mean", () => {
  const rng = createRng(3);
  const dim = 8;
  const rows = Array.from(
    { length: 20 },
    () => Float32Array.from({ length: dim }, () => rng.normal() + 0.5),
  );
  const flat = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => flat.set(r, i * dim));
  const got = meanPairwiseCosine(flat, rows.map((_, i) => i), dim, 0, dim);
  assertAlmostEquals(got, bruteForceCosine(rows, dim), 1e-9);
});

Deno.test("meanPairwiseCosine() skips keys without a direction and needs two keys", () => {
  const data = Float32Array.from([1, 0, 0, 0, 0, 1, 1, 1]);
  // rows 0, 2, 3 = (1,0), (0,1), (1,1): cosines 0, 1/√2, 1/√2
  assertAlmostEquals(meanPairwiseCosine(data, [0, 1, 2, 3], 2, 0, 2), Math.SQRT2 / 3, 1e-7);
  assert(Number.isNaN(meanPairwiseCosine(data, [0, 1], 2, 0, 2)));
});

Deno.test("measureRedundancy() recovers the constructed ρ of each phase within 0.02", () => {
  const rho = { prompt: 0.5, think: 0.75, answer: 0.25 };
  const trace = syntheticTrace({
    numLayers: 2,
    numKvHeads: 2,
    numHeads: 2,
    headDim: 256,
    counts: { prompt: 64, think: 160, answer: 96 },
    rho,
    seed: 11,
  });
  const measured = measureRedundancy(trace);
  for (const phase of ["prompt", "think", "answer"] as const) {
    for (const perHead of measured[phase]) {
      for (const r of perHead) assertAlmostEquals(r, rho[phase], 0.02, `${phase}: ${r}`);
    }
  }
});

Deno.test("measureRedundancy() follows ρ that varies by layer", () => {
  const trace = syntheticTrace({
    numLayers: 3,
    numKvHeads: 1,
    numHeads: 1,
    headDim: 256,
    counts: { prompt: 0, think: 128, answer: 64 },
    rho: { prompt: 0, think: [0.1, 0.5, 0.9], answer: 0.4 },
    seed: 5,
  });
  const think = measureRedundancy(trace).think.map((h) => h[0]);
  [0.1, 0.5, 0.9].forEach((r, layer) => assertAlmostEquals(think[layer], r, 0.02));
});

Deno.test("summarizeRedundancy() spreads over traces and leaves out empty phases", () => {
  const make = (seed: number) =>
    measureRedundancy(syntheticTrace({
      numLayers: 2,
      numKvHeads: 1,
      numHeads: 1,
      headDim: 128,
      counts: { prompt: 0, think: 64, answer: 32 },
      rho: { prompt: 0, think: 0.6, answer: 0.3 },
      seed,
    }));
  const summary = summarizeRedundancy([make(1), make(2), make(3)]);
  assertEquals(summary.byPhase.think.count, 3);
  assertAlmostEquals(summary.byPhase.think.mean, 0.6, 0.02);
  assert(summary.byPhase.think.std > 0 && summary.byPhase.think.std < 0.02);
  assertEquals(summary.byPhase.prompt.count, 0);
  assertEquals(summary.byLayer.answer.length, 2);
  assertEquals(summary.byLayer.answer[1].count, 3);
});
