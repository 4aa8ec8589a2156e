import { assert, assertEquals, assertGreater, assertGreaterOrEqual } from "@std/assert";
import type { EngineConfig } from "../src/engine/create_core.ts";
import { createEngineWith, type LocalEngine } from "../src/engine/local_engine.ts";
import type { GenerateOutput, GenerateRequest } from "../src/engine/types.ts";
import { collect, FAKE_OPEN, fakeModel, FakeRunner } from "./helpers/fake_runner.ts";

/** One f16 block of the fake model: 4 tokens × 32 channels × K,V × 2 bytes × 2 layers. */
const F16_BLOCK_BYTES = 4 * 32 * 2 * 2 * 2;
/** A 30-token "system prompt" every request starts with. */
const SYSTEM = Array.from({ length: 30 }, (_, k) => 3 + (k * 7) % 19);

function engineWith(config: Partial<EngineConfig>, runnerOpts = {}): {
  engine: LocalEngine;
  runner: FakeRunner;
} {
  const runner = new FakeRunner({ latencyMs: 1, ...runnerOpts });
  return { runner, engine: createEngineWith({ ...fakeModel(), runner }, config) };
}

function request(i: number, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  const tail = Array.from({ length: 3 + i % 5 }, (_, k) => 3 + (k * 3 + i) % 19);
  return { promptIds: [...SYSTEM, ...tail], maxTokens: 12, ...extra };
}

const ids = (outputs: GenerateOutput[]) => outputs.flatMap((o) => o.tokenIds);

Deno.test("Prefix caching shares full prompt blocks and leaves greedy outputs unchanged (f16)", async () => {
  const reqs = Array.from({ length: 8 }, (_, i) => request(i));
  const off = engineWith({ enablePrefixCaching: false, maxNumSeqs: 4 });
  const expected = await Promise.all(reqs.map((r) => collect(off.engine.generate(r))));
  const on = engineWith({ maxNumSeqs: 4, kvRecentTokens: 4 });
  // the first request fills the cache; the rest arrive once its prompt blocks are final
  const first = await collect(on.engine.generate(reqs[0]));
  let sawShared = false;
  const rest = await Promise.all(
    reqs.slice(1).map(async (r) => {
      const out: GenerateOutput[] = [];
      for await (const o of on.engine.generate(r)) {
        out.push(o);
        sawShared ||= on.engine.blockMap().some((e) => e.blocks.some((b) => b.shared));
      }
      return out;
    }),
  );
  assertEquals(on.runner.errors, []);
  assertEquals([first, ...rest].map(ids), expected.map(ids));
  const stats = on.engine.stats();
  // 7 requests × the 28 tokens of SYSTEM's 7 full blocks
  assertGreaterOrEqual(stats.prefixCacheHits!, 7 * 28);
  assertEquals(stats.prefixCacheQueries, reqs.reduce((n, r) => n + r.promptIds.length, 0));
  assert(sawShared);
  assertEquals(off.engine.stats().prefixCacheHits, 0);
  on.engine.core.scheduler.prefixCache!.clear();
  assertEquals(on.engine.core.arena.bytesUsed(), 0);
  await on.engine.close();
  await off.engine.close();
});

Deno.test("Arena bytes return to zero after random workloads mixing demotion, prefix sharing, preemption and aborts", async () => {
  for (const seed0 of [1, 2, 3]) {
    const { engine, runner } = engineWith({
      maxNumSeqs: 6,
      maxNumBatchedTokens: 24,
      kvCacheMemory: 36 * F16_BLOCK_BYTES,
      kvSlabBytes: 2 * F16_BLOCK_BYTES,
      kvCacheDtype: "int8",
      kvCacheDtypeThink: "int8",
      kvCacheDtypeAnswer: "int4",
      kvRecentTokens: 4,
      kvDemotion: "answer:int2,think:int3,prompt:int4",
    }, { maxDemotionsPerStep: 4 });
    let seed = seed0;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const runs = Array.from({ length: 24 }, async (_, i) => {
      const controller = new AbortController();
      const r = request(i, {
        maxTokens: 8 + Math.floor(random() * 40),
        sampling: { temperature: 1, seed: i },
      });
      if (random() < 0.5) r.promptIds = [...r.promptIds, FAKE_OPEN];
      const abortAfter = random() < 0.25 ? 1 + Math.floor(random() * 10) : -1;
      let n = 0;
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 20)));
      for await (const _ of engine.generate(r, { signal: controller.signal })) {
        if (++n === abortAfter) controller.abort();
      }
    });
    await Promise.allSettled(runs);
    await engine.core.whenIdle();
    assertEquals(runner.errors, [], `seed ${seed0}`);
    engine.core.scheduler.prefixCache!.clear();
    assertEquals(engine.core.arena.bytesUsed(), 0, `seed ${seed0}`);
    assertEquals(engine.core.arena.bytesHeld(), 0);
    const stats = engine.stats();
    assertGreater(stats.prefixCacheHits!, 0, `seed ${seed0}: no prefix hit`);
    assertGreater(runner.numDemotions, 0, `seed ${seed0}: no demotion`);
    await engine.close();
  }
});
