import { assertEquals, assertGreater, assertInstanceOf, assertRejects } from "@std/assert";
import { KvCapacityError } from "../src/engine/capacity_error.ts";
import type { EngineConfig } from "../src/engine/create_core.ts";
import { ContextLengthError, QueueFullError } from "../src/engine/errors.ts";
import { createEngineWith, type LocalEngine } from "../src/engine/local_engine.ts";
import type { GenerateOutput, GenerateRequest } from "../src/engine/types.ts";
import { collect, FAKE_OPEN, fakeModel, FakeRunner } from "./helpers/fake_runner.ts";

/** One f16 block of the fake model: 4 tokens × 32 channels × K,V × 2 bytes × 2 layers. */
const F16_BLOCK_BYTES = 4 * 32 * 2 * 2 * 2;

function engineWith(config: Partial<EngineConfig>, latencyMs = 1): {
  engine: LocalEngine;
  runner: FakeRunner;
} {
  const runner = new FakeRunner({ latencyMs });
  return { runner, engine: createEngineWith({ ...fakeModel(), runner }, config) };
}

function request(i: number, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  const promptIds = Array.from({ length: 10 + i * 3 }, (_, k) => 3 + (k * 5 + i) % 19);
  return { promptIds, maxTokens: 30, ...extra };
}

function ids(outputs: GenerateOutput[]): number[] {
  return outputs.flatMap((o) => o.tokenIds);
}

Deno.test("Scheduler preempts by recompute when KV runs out, and outputs match each request alone", async () => {
  const reqs = Array.from(
    { length: 6 },
    (_, i) => request(i, { sampling: { temperature: 1, seed: i } }),
  );
  const expected: number[][] = [];
  for (const r of reqs) {
    const { engine } = engineWith({ maxNumSeqs: 1 });
    expected.push(ids(await collect(engine.generate(r))));
    await engine.close();
  }
  // room for about two sequences at a time out of six
  const { engine, runner } = engineWith({
    maxNumSeqs: 6,
    maxNumBatchedTokens: 32,
    kvCacheMemory: 28 * F16_BLOCK_BYTES,
  });
  const outputs = await Promise.all(reqs.map((r) => collect(engine.generate(r))));
  await engine.core.whenIdle();
  assertEquals(runner.errors, []);
  assertGreater(engine.stats().numPreemptions, 0);
  outputs.forEach((o, i) => {
    assertEquals(ids(o), expected[i], `request ${i}`);
    assertEquals(o.at(-1)!.finishReason, "length");
  });
  // the prefix cache keeps unreferenced prompt blocks until pressure evicts them
  engine.core.scheduler.prefixCache?.clear();
  assertEquals(engine.core.arena.bytesFree(), engine.core.arena.budgetBytes);
});

Deno.test("LocalEngine leaks no KV after finished, stopped, cancelled and preempted requests", async () => {
  const { engine, runner } = engineWith({
    maxNumSeqs: 5,
    maxNumBatchedTokens: 20,
    kvCacheMemory: 30 * F16_BLOCK_BYTES,
    kvSlabBytes: F16_BLOCK_BYTES,
    kvCacheDtypeThink: "int4",
  });
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const runs = Array.from({ length: 24 }, async (_, i) => {
    const controller = new AbortController();
    const kind = Math.floor(random() * 4);
    const r = request(i % 7, {
      maxTokens: 10 + Math.floor(random() * 30),
      stop: kind === 1 ? [" the"] : undefined,
      maxThinkTokens: kind === 2 ? 3 : undefined,
    });
    if (kind === 2) r.promptIds = [...r.promptIds, FAKE_OPEN];
    let n = 0;
    const outputs: GenerateOutput[] = [];
    for await (const o of engine.generate(r, { signal: controller.signal })) {
      outputs.push(o);
      if (kind === 3 && ++n === 3) controller.abort();
    }
    return outputs.at(-1)!.finishReason;
  });
  const reasons = await Promise.all(runs);
  await engine.core.whenIdle();
  assertEquals(runner.errors, []);
  assertGreater(reasons.filter((r) => r === "abort").length, 0);
  assertGreater(reasons.filter((r) => r === "stop").length, 0);
  assertEquals(reasons.filter((r) => r === "error").length, 0);
  assertGreater(engine.stats().numPreemptions, 0);
  assertEquals(engine.core.arena.bytesHeld(), 0);
  // the prefix cache keeps unreferenced prompt blocks until pressure evicts them
  engine.core.scheduler.prefixCache?.clear();
  assertEquals(engine.core.arena.bytesFree(), engine.core.arena.budgetBytes);
  assertEquals(engine.stats().numRunning + engine.stats().numWaiting, 0);
});

Deno.test("LocalEngine.generate() cancels through AbortSignal and frees the blocks once steps resolve", async () => {
  const { engine } = engineWith({}, 5);
  const controller = new AbortController();
  const outputs: GenerateOutput[] = [];
  for await (const o of engine.generate(request(2, { maxTokens: 200 }), controller)) {
    outputs.push(o);
    if (outputs.length === 4) {
      controller.abort();
      // a step using the blocks is still in flight: they are held, not reusable yet
      assertGreater(engine.core.arena.bytesHeld(), 0);
    }
  }
  assertEquals(outputs.at(-1)!.finishReason, "abort");
  await engine.core.whenIdle();
  // the prefix cache keeps unreferenced prompt blocks until pressure evicts them
  engine.core.scheduler.prefixCache?.clear();
  assertEquals(engine.core.arena.bytesFree(), engine.core.arena.budgetBytes);
});

Deno.test("LocalEngine.generate() rejects a prompt larger than the whole KV cache", async () => {
  const { engine } = engineWith({ kvCacheMemory: 4 * F16_BLOCK_BYTES });
  const err = await assertRejects(() => collect(engine.generate(request(3))), KvCapacityError);
  assertGreater(err.neededBytes, err.budgetBytes);
  await assertRejects(
    () => collect(engine.generate({ promptIds: [3, 4], maxTokens: 5000 })),
    ContextLengthError,
  );
  assertEquals(engine.stats().numWaiting, 0);
  await engine.close();
});

Deno.test("LocalEngine.generate() ends a sequence that outgrows the whole KV cache with an error", async () => {
  const { engine } = engineWith({ kvCacheMemory: 6 * F16_BLOCK_BYTES });
  const outputs = await collect(engine.generate({ promptIds: [3, 4, 5], maxTokens: 100 }));
  assertEquals(outputs.at(-1)!.finishReason, "error");
  assertEquals(outputs.at(-1)!.usage!.completionTokens > 0, true);
  await engine.core.whenIdle();
  // the prefix cache keeps unreferenced prompt blocks until pressure evicts them
  engine.core.scheduler.prefixCache?.clear();
  assertEquals(engine.core.arena.bytesFree(), engine.core.arena.budgetBytes);
});

Deno.test("LocalEngine.generate() refuses requests past maxWaiting", async () => {
  const { engine } = engineWith({ maxWaiting: 1, maxNumSeqs: 1 });
  // the first runs, the second waits, the third finds the queue full
  const running = [collect(engine.generate(request(1))), collect(engine.generate(request(2)))];
  const third = engine.generate(request(3))[Symbol.asyncIterator]();
  const err = await third.next().then(() => null, (e) => e);
  assertInstanceOf(err, QueueFullError);
  await Promise.all(running);
  await engine.close();
});
