import {
  assert,
  assertEquals,
  assertLessOrEqual,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { parseProfile } from "../src/kv/profile.ts";
import { calibrate, type CalibrateProgress } from "../src/taqg/calibrate.ts";
import { parseCalibrationProfile } from "../src/taqg/profile.ts";
import { syntheticTrace } from "../src/taqg/synthetic.ts";
import type { KvTrace } from "../src/taqg/trace.ts";
import { fixtureCodec } from "./taqg_fixtures.ts";

function traces(rho: { think: number; answer: number }): KvTrace[] {
  return [1, 2].map((seed) =>
    syntheticTrace({
      numLayers: 2,
      numKvHeads: 2,
      numHeads: 4,
      headDim: 32,
      counts: { prompt: 16, think: 96, answer: 32 },
      rho: { prompt: 0.3, ...rho },
      seed,
    })
  );
}

const opts = { model: "synthetic", codec: fixtureCodec(2, 32), maxQueries: 8 };

Deno.test("calibrate() runs end to end and writes a profile the server accepts", async () => {
  const stages: CalibrateProgress["stage"][] = [];
  const result = await calibrate(traces({ think: 0.6, answer: 0.3 }), {
    ...opts,
    onProgress: (p) => stages.push(p.stage),
  });
  assertEquals([...new Set(stages)], ["redundancy", "evaluate", "search", "report"]);

  const kinds = result.rows.map((r) => r.kind);
  for (
    const k of ["uniform", "aligned", "anti-aligned", "random-blocks", "paper", "searched"] as const
  ) {
    assert(kinds.includes(k), `missing ${k}`);
  }
  const aligned = result.rows.find((r) => r.kind === "aligned")!;
  assertEquals(aligned.allocation!.phases.think.key, "int3");
  const searched = result.rows.find((r) => r.kind === "searched")!;
  // the search measures the aligned split too, at the same budget, so it can only do as well or better
  assertLessOrEqual(searched.bitsPerElement, aligned.bitsPerElement + 1e-9);
  assertLessOrEqual(searched.attentionKl.mean, aligned.attentionKl.mean + 1e-12);
  const f16 = result.rows.find((r) => r.name === "uniform f16")!;
  assertEquals(f16.attentionKl.mean, 0);
  assert(
    result.rows.find((r) => r.name === "uniform int2")!.attentionKl.mean > aligned.attentionKl.mean,
  );

  const text = JSON.stringify(result.profile);
  assertEquals(parseProfile(text, "phasekv.profile.json").phases, result.profile.phases);
  assertEquals(parseCalibrationProfile(JSON.parse(text)).measured?.config, searched.name);
  assertStringIncludes(result.reportMarkdown, "| TAQG-aligned (think int3) |");
  assertStringIncludes(result.svg, "<svg");
});

Deno.test("calibrate() lowers the answer phase when the answer is the more redundant", async () => {
  const result = await calibrate(traces({ think: 0.3, answer: 0.6 }), opts);
  const aligned = result.rows.find((r) => r.kind === "aligned")!;
  assertEquals(aligned.allocation!.phases.answer.key, "int3");
  assertEquals(aligned.allocation!.phases.think.key, "int4");
  assert(result.redundancy.byPhase.answer.mean > result.redundancy.byPhase.think.mean);
});

Deno.test("calibrate() reports next-token KL from the runner's logits", async () => {
  const vocab = 4;
  const result = await calibrate(traces({ think: 0.6, answer: 0.3 }).slice(0, 1), {
    ...opts,
    maxCandidates: 4,
    // a fake runner: the quantized run's logits shift with the configuration's stored bits
    logits: (_ctx, config) => {
      const reference = new Float32Array(3 * vocab);
      const shift = config.name === "uniform f16" ? 0 : 1;
      const quantized = reference.map((_, i) => (i % vocab === 0 ? shift : 0));
      return Promise.resolve({ reference, quantized, vocabSize: vocab });
    },
  });
  assertEquals(result.rows.find((r) => r.name === "uniform f16")!.nextTokenKl!.mean, 0);
  const kl = result.rows.find((r) => r.name === "uniform int4")!.nextTokenKl!;
  // KL(uniform over 4 ‖ softmax([1, 0, 0, 0])) = ln((e + 3) / 4) − 1/4
  assertEquals(kl.count, 3);
  assert(Math.abs(kl.mean - (Math.log((Math.E + 3) / 4) - 0.25)) < 1e-6);
  assert(result.profile.measured?.nextTokenKl !== null);
});

Deno.test("calibrate() with splitKv still writes a profile a block can store", async () => {
  const result = await calibrate(traces({ think: 0.6, answer: 0.3 }).slice(0, 1), {
    ...opts,
    splitKv: true,
  });
  const served = result.rows.find((r) => r.name === result.profile.measured?.config)!;
  for (const p of ["prompt", "think", "answer"] as const) {
    assertEquals(served.allocation!.phases[p].key, served.allocation!.phases[p].value);
  }
  const budget = result.rows.find((r) => r.kind === "aligned")!.bitsPerElement;
  assertLessOrEqual(served.bitsPerElement, budget + 1e-9);
});

Deno.test("calibrate() refuses no traces and traces of different shapes", async () => {
  await assertRejects(() => calibrate([], opts), RangeError, "at least one trace");
  const [a] = traces({ think: 0.6, answer: 0.3 });
  const b = syntheticTrace({
    numLayers: 1,
    numKvHeads: 2,
    numHeads: 4,
    headDim: 32,
    counts: { prompt: 4, think: 8, answer: 4 },
    rho: { prompt: 0.3, think: 0.5, answer: 0.5 },
    seed: 3,
  });
  await assertRejects(() => calibrate([a, b], opts), RangeError, "Trace 1 has shape 1×2×4×32");
});
