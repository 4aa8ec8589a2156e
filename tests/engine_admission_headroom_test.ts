import { assert, assertEquals, assertGreater, assertThrows } from "@std/assert";
import type { EngineConfig } from "../src/engine/create_core.ts";
import { createEngineWith, type LocalEngine } from "../src/engine/local_engine.ts";
import type { GenerateOutput, GenerateRequest } from "../src/engine/types.ts";
import { collect, FAKE_OPEN, fakeModel, FakeRunner } from "./helpers/fake_runner.ts";

/** One f16 block of the fake model: 4 tokens × 32 channels × K,V × 2 bytes × 2 layers. */
const F16_BLOCK_BYTES = 4 * 32 * 2 * 2 * 2;

function engineWith(config: Partial<EngineConfig>): { engine: LocalEngine; runner: FakeRunner } {
  const runner = new FakeRunner({ latencyMs: 1, maxDemotionsPerStep: 8 });
  return { runner, engine: createEngineWith({ ...fakeModel(), runner }, config) };
}

/** A request whose output is think (the prompt opens the block) and runs to max_tokens. */
function request(i: number): GenerateRequest {
  const promptIds = Array.from({ length: 10 + i * 3 }, (_, k) => 3 + (k * 5 + i) % 19);
  return {
    promptIds: [...promptIds, FAKE_OPEN],
    maxTokens: 30,
    sampling: { temperature: 1, seed: i },
  };
}

const ids = (outputs: GenerateOutput[]) => outputs.flatMap((o) => o.tokenIds);

/** Runs `reqs` at once; checks at every output that the running set's peaks fit the budget. */
async function runAll(engine: LocalEngine, reqs: GenerateRequest[]) {
  const { scheduler, arena } = engine.core;
  let peaksFit = true;
  const outputs = await Promise.all(reqs.map(async (r) => {
    const out: GenerateOutput[] = [];
    for await (const o of engine.generate(r)) {
      out.push(o);
      const peaks = scheduler.running.reduce((n, s) => n + s.peakKvBytes, 0);
      peaksFit &&= peaks <= arena.budgetBytes;
    }
    return out;
  }));
  await engine.core.whenIdle();
  return { outputs, peaksFit, stats: engine.stats() };
}

const reqs = Array.from({ length: 6 }, (_, i) => request(i));
const tight: Partial<EngineConfig> = {
  maxNumSeqs: 6,
  maxNumBatchedTokens: 32,
  kvCacheMemory: 28 * F16_BLOCK_BYTES,
  // a slab per f16 block: every byte of the budget can hold one
  kvSlabBytes: F16_BLOCK_BYTES / 2,
  kvDemotion: "none",
};

Deno.test("--admission-headroom 1 runs a burst without a preemption, with the outputs of each request alone", async () => {
  const expected: number[][] = [];
  for (const r of reqs) {
    const { engine } = engineWith({ maxNumSeqs: 1 });
    expected.push(ids(await collect(engine.generate(r))));
    await engine.close();
  }
  const optimistic = engineWith(tight);
  const reserving = engineWith({ ...tight, admissionHeadroom: 1 });
  const a = await runAll(optimistic.engine, reqs);
  const b = await runAll(reserving.engine, reqs);
  // admitting while the first chunk fits over-admits, then preempts and recomputes
  assertGreater(a.stats.numPreemptions, 0);
  assertGreater(a.stats.recomputedTokens!, 0);
  assertEquals(b.stats.numPreemptions, 0);
  assertEquals(b.stats.recomputedTokens, 0);
  assert(b.peaksFit, "the running sequences' peaks outgrew the budget");
  assertGreater(b.stats.running!.max, 1);
  for (const [run, { engine, runner }] of [[a, optimistic], [b, reserving]] as const) {
    assertEquals(runner.errors, []);
    run.outputs.forEach((o, i) => {
      assertEquals(ids(o), expected[i], `request ${i}`);
      assertEquals(o.at(-1)!.finishReason, "length");
    });
    engine.core.scheduler.prefixCache?.clear();
    assertEquals(engine.core.arena.bytesUsed(), 0);
    await engine.close();
  }
});

Deno.test("--admission-headroom reserves at the demotion floors: demotion admits more sequences at once", async () => {
  const quantized: Partial<EngineConfig> = {
    ...tight,
    kvCacheMemory: 20 * F16_BLOCK_BYTES,
    kvCacheDtype: "int8",
    kvRecentTokens: 4,
    kvSlabBytes: F16_BLOCK_BYTES / 2,
    admissionHeadroom: 1,
  };
  const plain = engineWith(quantized);
  const demoting = engineWith({ ...quantized, kvDemotion: "think:int2,prompt:int4" });
  const a = await runAll(plain.engine, reqs);
  const b = await runAll(demoting.engine, reqs);
  assertGreater(b.stats.running!.max, a.stats.running!.max);
  assert(a.peaksFit && b.peaksFit);
  assertEquals(a.stats.numPreemptions, 0);
  for (const { engine, runner } of [plain, demoting]) {
    assertEquals(runner.errors, []);
    engine.core.scheduler.prefixCache?.clear();
    assertEquals(engine.core.arena.bytesUsed(), 0);
    await engine.close();
  }
});

Deno.test("An admission headroom outside [0, 1] is a startup error", () => {
  for (const admissionHeadroom of [-0.1, 1.5, NaN]) {
    assertThrows(() => engineWith({ admissionHeadroom }), RangeError, "admissionHeadroom");
  }
});
