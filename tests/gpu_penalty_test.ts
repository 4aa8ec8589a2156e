import { assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { countRow, PenaltyOp } from "../src/runner/ops/penalty.ts";
import { packSample, SAMPLE_WORDS, SampleOp } from "../src/runner/ops/sample.ts";
import { GREEDY, type Penalties, type SamplingParams, type StepSeq } from "../src/runner/types.ts";
import { packStep } from "../src/runner/step_pack.ts";
import type { Gpu } from "../src/gpu/device.ts";
import { GPU_PROFILE, SOFTWARE_PROFILE } from "../src/gpu/profile.ts";
import {
  assertClose,
  counts,
  randomF32,
  readF32,
  readU32,
  runPass,
  storage,
  testGpu,
  zeros,
} from "./helpers/gpu_harness.ts";
import { penalizedLogitsRef, sampleRef } from "./reference/ops.ts";

const VOCAB = 517;

/** A sequence's sampling row: its slot, settings, penalties and generated tokens so far. */
interface Row {
  slot: number;
  sampling: SamplingParams;
  penalties?: Penalties;
  generated: number[];
}

function params(rows: readonly Row[]): Uint32Array {
  const out = new Uint32Array(rows.length * SAMPLE_WORDS);
  rows.forEach((r, i) => packSample(out, i, r.slot, r.sampling, r.generated.length, r.penalties));
  return out;
}

/** Counts buffer of `slots` slots holding each row's generated tokens in its slot. */
function countsBuffer(gpu: Gpu, slots: number, rows: readonly Row[]): GPUBuffer {
  const all = new Uint32Array(slots * VOCAB);
  for (const r of rows) all.set(countRow(r.generated, VOCAB), r.slot * VOCAB);
  return storage(gpu, all);
}

/** Tokens that repeat: a few ids drawn many times, so counts go above 1. */
function history(seed: number, n: number): number[] {
  const picks = randomF32(n, seed, 1);
  return [...picks].map((v) => Math.floor((v + 1) * 6) * 37 % VOCAB);
}

for (const profile of [SOFTWARE_PROFILE, GPU_PROFILE]) {
  Deno.test(`PenaltyOp (${profile.name}) matches the oracle and leaves unpenalised rows alone`, async () => {
    const gpu = await testGpu({ profile });
    try {
      const cases: (Penalties | undefined)[] = [
        { presence: 0.5, frequency: 0.25 },
        undefined,
        { presence: 0, frequency: 2 },
        { presence: -1, frequency: 0 },
        { presence: 0, frequency: 0 },
        { presence: 1.5, frequency: -0.5 },
      ];
      const rows: Row[] = cases.map((penalties, i) => ({
        slot: (i * 5 + 2) % 7,
        sampling: GREEDY,
        penalties,
        generated: history(10 + i, 40),
      }));
      const raw = new Float32Array(rows.length * VOCAB);
      rows.forEach((_, i) => raw.set(randomF32(VOCAB, 50 + i, 4), i * VOCAB));
      const logits = storage(gpu, raw);
      const op = await PenaltyOp.create(gpu, VOCAB);
      await runPass(gpu, (pass) =>
        op.encode(pass, {
          logits,
          params: storage(gpu, params(rows)),
          tokenCounts: countsBuffer(gpu, 7, rows),
          count: counts(gpu, rows.length),
        }, rows.length));
      const got = await readF32(gpu, logits, rows.length * VOCAB);
      rows.forEach((r, i) => {
        const before = raw.subarray(i * VOCAB, (i + 1) * VOCAB);
        const p = r.penalties ?? { presence: 0, frequency: 0 };
        const expected = penalizedLogitsRef(before, r.generated, p);
        const row = got.subarray(i * VOCAB, (i + 1) * VOCAB);
        assertClose(row, expected, 1e-5, 1e-6, `row ${i}`);
      });
      // the penalised rows did move: the test is not vacuous
      assertNotEquals([...got.subarray(0, VOCAB)], [...raw.subarray(0, VOCAB)]);
    } finally {
      gpu.destroy();
    }
  });
}

Deno.test("Penalise then sample, step after step: the GPU counts its own tokens as the oracle does", async () => {
  const gpu = await testGpu();
  try {
    const penalty = await PenaltyOp.create(gpu, VOCAB);
    const sample = await SampleOp.create(gpu, VOCAB);
    // one fixed logits row per sequence: greedy without penalties would repeat one token forever
    const rows: Row[] = [
      { slot: 3, sampling: GREEDY, penalties: { presence: 0.3, frequency: 0.7 }, generated: [] },
      { slot: 0, sampling: GREEDY, generated: [] },
      {
        slot: 1,
        sampling: { temperature: 0.8, topK: 0, topP: 0.9, minP: 0, seed: 77 },
        penalties: { presence: 0.5, frequency: 0.5 },
        generated: [],
      },
      { slot: 2, sampling: GREEDY, penalties: { presence: 0, frequency: 0.05 }, generated: [] },
    ];
    const raw = rows.map((_, i) => randomF32(VOCAB, 90 + i, 3));
    const tokenCounts = zeros(gpu, 4 * VOCAB * 4);
    const lastToken = zeros(gpu, 16);
    const out = zeros(gpu, 16);
    for (let step = 0; step < 12; step++) {
      const all = new Float32Array(rows.length * VOCAB);
      raw.forEach((l, i) => all.set(l, i * VOCAB));
      const logits = storage(gpu, all);
      const p = storage(gpu, params(rows));
      const n = counts(gpu, rows.length);
      await runPass(gpu, (pass) => {
        penalty.encode(pass, { logits, params: p, tokenCounts, count: n }, rows.length);
        sample.encode(
          pass,
          { logits, params: p, lastToken, outTokens: out, tokenCounts, count: n },
          rows.length,
        );
      });
      const tokens = await readU32(gpu, out, rows.length);
      rows.forEach((r, i) => {
        const penalised = penalizedLogitsRef(
          raw[i],
          r.generated,
          r.penalties ?? { presence: 0, frequency: 0 },
        );
        const s = r.sampling;
        const expected = sampleRef(penalised, {
          temperature: s.temperature,
          topK: s.topK,
          topP: s.topP,
          minP: s.minP,
          seedLo: s.seed >>> 0,
          seedHi: Math.floor(s.seed / 2 ** 32) >>> 0,
          index: r.generated.length,
        });
        assertEquals(tokens[i], expected, `step ${step} row ${i}`);
        r.generated.push(tokens[i]);
      });
    }
    const kept = await readU32(gpu, tokenCounts, 4 * VOCAB);
    // penalised slots hold their histories; the unpenalised slot 0 counted nothing
    for (const r of rows) {
      const want = r.penalties ? countRow(r.generated, VOCAB) : new Uint32Array(VOCAB);
      assertEquals(
        [...kept.subarray(r.slot * VOCAB, (r.slot + 1) * VOCAB)],
        [...want],
        `slot ${r.slot}`,
      );
    }
    assertEquals(new Set(rows[1].generated).size, 1);
    // a strong frequency penalty keeps greedy from repeating a token back to back
    const g = rows[0].generated;
    assertEquals(g.slice(1).every((t, k) => t !== g[k]), true);
  } finally {
    gpu.destroy();
  }
});

Deno.test("packStep packs penalties and count resets, and rejects bad ones naming the field", () => {
  const limits = {
    maxRows: 4,
    maxSeqs: 4,
    maxTableEntries: 8,
    vocabSize: 100,
    poolBytes: 4096,
    kv: { numKvHeads: 2, blockSize: 4, headDim: 8 },
  };
  const seq = (slot: number, extra: Partial<StepSeq>): StepSeq => ({
    slot,
    blocks: [{ offset: slot * 512, dtype: "f16", phase: "answer", tokens: 1 }],
    sample: true,
    sampling: GREEDY,
    sampleIndex: 0,
    ...extra,
  });
  const pack = (...seqs: StepSeq[]) =>
    packStep({ seqs, rows: seqs.map((_, i) => ({ seq: i, position: 0, token: 5 })) }, limits);
  const p = pack(
    seq(2, { penalties: { presence: 0.5, frequency: 1.25 }, countsFrom: [7, 7, 9] }),
    seq(3, { penalties: { presence: 0, frequency: 0 } }),
  );
  const f = new Float32Array(p.samples.buffer);
  assertEquals([f[8], f[9], p.samples[10]], [0.5, 1.25, 1]);
  // all-zero penalties are off: the kernels neither penalise nor count that row
  assertEquals([f[SAMPLE_WORDS + 8], f[SAMPLE_WORDS + 9], p.samples[SAMPLE_WORDS + 10]], [0, 0, 0]);
  assertEquals(p.countResets, [{ slot: 2, tokens: [7, 7, 9] }]);
  assertThrows(
    () => pack(seq(0, { penalties: { presence: NaN, frequency: 0 } })),
    RangeError,
    "penalties",
  );
  assertThrows(() => pack(seq(0, { countsFrom: [3, 100] })), RangeError, "countsFrom token 100");
});
