import { assert, assertEquals, assertGreater, assertLess } from "@std/assert";
import type { EngineConfig } from "../src/engine/create_core.ts";
import { createEngineWith, type LocalEngine } from "../src/engine/local_engine.ts";
import type { GenerateOutput, GenerateRequest } from "../src/engine/types.ts";
import { collect, FAKE_CLOSE, FAKE_OPEN, fakeModel, FakeRunner } from "./helpers/fake_runner.ts";

/** One f16 block of the fake model: 4 tokens × 32 channels × K,V × 2 bytes × 2 layers. */
const F16_BLOCK_BYTES = 4 * 32 * 2 * 2 * 2;
const QUANTIZED: Partial<EngineConfig> = {
  kvCacheDtype: "int8",
  kvCacheDtypeThink: "int8",
  kvCacheDtypeAnswer: "int8",
  kvRecentTokens: 4,
  kvSlabBytes: 4 * F16_BLOCK_BYTES / 2,
};

function engineWith(config: Partial<EngineConfig>, maxDemotionsPerStep = 8): {
  engine: LocalEngine;
  runner: FakeRunner;
} {
  const runner = new FakeRunner({ latencyMs: 1, maxDemotionsPerStep });
  return { runner, engine: createEngineWith({ ...fakeModel(), runner }, config) };
}

function request(i: number, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  const promptIds = Array.from({ length: 10 + i * 3 }, (_, k) => 3 + (k * 5 + i) % 19);
  // the prompt opens a think block: the output is think, and the hash never closes it
  return {
    promptIds: [...promptIds, FAKE_OPEN],
    maxTokens: 40,
    sampling: { temperature: 1, seed: i },
    ...extra,
  };
}

const ids = (outputs: GenerateOutput[]) => outputs.flatMap((o) => o.tokenIds);

/** Runs `reqs` at once; the most sequences running together, sampled at every output. */
async function runAll(engine: LocalEngine, reqs: GenerateRequest[]) {
  let maxRunning = 0;
  const outputs = await Promise.all(reqs.map(async (r) => {
    const out: GenerateOutput[] = [];
    for await (const o of engine.generate(r)) {
      out.push(o);
      maxRunning = Math.max(maxRunning, engine.stats().numRunning);
    }
    return out;
  }));
  await engine.core.whenIdle();
  return { outputs, maxRunning };
}

Deno.test("Demotion under memory pressure: more sequences at once, fewer preemptions, same outputs", async () => {
  const reqs = Array.from({ length: 6 }, (_, i) => request(i));
  const expected: number[][] = [];
  for (const r of reqs) {
    const { engine } = engineWith({ ...QUANTIZED, maxNumSeqs: 1, kvDemotion: "none" });
    expected.push(ids(await collect(engine.generate(r))));
    await engine.close();
  }
  const tight = { ...QUANTIZED, maxNumSeqs: 6, maxNumBatchedTokens: 32 };
  const budget = 40 * F16_BLOCK_BYTES;
  const plain = engineWith({ ...tight, kvCacheMemory: budget, kvDemotion: "none" });
  const base = await runAll(plain.engine, reqs);
  const demoting = engineWith({
    ...tight,
    kvCacheMemory: budget,
    kvDemotion: "answer:int2,think:int2,prompt:int4",
  });
  const got = await runAll(demoting.engine, reqs);
  for (const [run, { engine, runner }] of [[base, plain], [got, demoting]] as const) {
    assertEquals(runner.errors, []);
    run.outputs.forEach((o, i) => assertEquals(ids(o), expected[i], `request ${i}`));
    engine.core.scheduler.prefixCache?.clear();
    assertEquals(engine.core.arena.bytesUsed(), 0);
    assertEquals(engine.core.arena.bytesHeld(), 0);
  }
  assertEquals(plain.runner.numDemotions, 0);
  assertGreater(demoting.runner.numDemotions, 0);
  const stats = demoting.engine.stats();
  const counted = stats.kvDemotions!.reduce((n, c) => n + c.blocks, 0);
  assertEquals(counted, demoting.runner.numDemotions);
  assert(stats.kvDemotions!.every((c) => c.bytesFreed > 0 && ["int2", "int4"].includes(c.dtype)));
  assertLess(stats.numPreemptions, plain.engine.stats().numPreemptions);
  assertEquals(got.maxRunning, reqs.length);
  await plain.engine.close();
  await demoting.engine.close();
});

Deno.test("Demotion never touches open or window blocks, keeps phases, and /v1/kv shows it", async () => {
  const { engine, runner } = engineWith({
    ...QUANTIZED,
    maxNumSeqs: 4,
    maxNumBatchedTokens: 32,
    kvCacheMemory: 30 * F16_BLOCK_BYTES,
    kvDemotion: "think:int3",
  });
  let sawDemoted = false;
  await Promise.all([0, 1, 2, 3].map(async (i) => {
    for await (const _ of engine.generate(request(i))) {
      for (const entry of engine.blockMap()) {
        entry.blocks.forEach((b) => {
          if (b.demoted) {
            sawDemoted = true;
            assertEquals([b.phase, b.dtype, b.open], ["think", "int3", false]);
          }
          if (b.open) assertEquals(b.dtype, "f16");
        });
      }
    }
  }));
  await engine.core.whenIdle();
  assertEquals(runner.errors, []);
  assert(sawDemoted);
  engine.core.scheduler.prefixCache?.clear();
  assertEquals(engine.core.arena.bytesUsed(), 0);
  await engine.close();
});

Deno.test("Think after answer: a sequence's think blocks are demoted when its answer begins", async () => {
  const runner = new FakeRunner({
    latencyMs: 1,
    maxDemotionsPerStep: 2,
    script: (i) => i === 20 ? FAKE_CLOSE : null,
  });
  const config = { ...QUANTIZED, kvDemotion: "none", maxNumSeqs: 2 };
  const engine = createEngineWith({ ...fakeModel(), runner }, {
    ...config,
    kvCacheDtypeThinkAfterAnswer: "int2",
  });
  const plainRunner = new FakeRunner({ latencyMs: 1, script: (i) => i === 20 ? FAKE_CLOSE : null });
  const plain = createEngineWith({ ...fakeModel(), runner: plainRunner }, config);
  const reqs = [0, 1].map((i) => request(i, { maxTokens: 36 }));
  const thinkDtypes = new Set<string>();
  const outputs = await Promise.all(reqs.map(async (r) => {
    const out: GenerateOutput[] = [];
    for await (const o of engine.generate(r)) {
      out.push(o);
      if (o.phase !== "answer" || o.finishReason) continue;
      for (const entry of engine.blockMap()) {
        for (const b of entry.blocks) if (b.phase === "think" && !b.open) thinkDtypes.add(b.dtype);
      }
    }
    return out;
  }));
  const expected = await Promise.all(reqs.map((r) => collect(plain.generate(r))));
  assertEquals(runner.errors, []);
  assertEquals(outputs.map(ids), expected.map(ids));
  assertGreater(runner.numDemotions, 0);
  // once every step's demotions ran, no sealed think block above int2 is left
  assert(thinkDtypes.has("int2"));
  const last = outputs[0].at(-1)!;
  assertEquals(last.usage!.kv.phases.think.dtypes.int8 ?? 0, 0);
  assert(
    engine.stats().kvDemotions!.every((c) => c.phase === "think" && c.dtype === "int2"),
  );
  engine.core.scheduler.prefixCache?.clear();
  assertEquals(engine.core.arena.bytesUsed(), 0);
  await engine.close();
  await plain.close();
});

Deno.test("Under memory pressure blocks are sealed straight at their floor; with room, at their dtype", async () => {
  const reqs = [0, 1, 2, 3, 4, 5].map((i) => request(i));
  const sealedAs = async (budget: number) => {
    const { engine, runner } = engineWith({
      ...QUANTIZED,
      maxNumSeqs: 6,
      maxNumBatchedTokens: 32,
      kvCacheMemory: budget,
      kvDemotion: "think:int3",
    });
    // think blocks seen sealed (not demoted), by dtype
    const seen = new Set<string>();
    await Promise.all(reqs.map(async (r) => {
      for await (const _ of engine.generate(r)) {
        for (const entry of engine.blockMap()) {
          for (const b of entry.blocks) {
            if (b.phase === "think" && !b.open && !b.demoted) seen.add(b.dtype);
          }
        }
      }
    }));
    await engine.core.whenIdle();
    assertEquals(runner.errors, []);
    engine.core.scheduler.prefixCache?.clear();
    assertEquals(engine.core.arena.bytesUsed(), 0);
    const floorSeals = engine.stats().kvFloorSeals ?? [];
    await engine.close();
    return { seen, floorSeals };
  };
  const roomy = await sealedAs(400 * F16_BLOCK_BYTES);
  assertEquals([...roomy.seen].filter((d) => d !== "f16"), ["int8"]);
  assertEquals(roomy.floorSeals, []);
  const tight = await sealedAs(30 * F16_BLOCK_BYTES);
  // int3 blocks that no demotion produced: sealed at the floor while memory was short, counted
  assert(tight.seen.has("int3"), `think blocks sealed as ${[...tight.seen]}`);
  const counted = tight.floorSeals.find((c) => c.phase === "think" && c.dtype === "int3");
  assert(counted && counted.blocks > 0 && counted.bytesFreed > 0, JSON.stringify(tight.floorSeals));
});
