import { assert, assertEquals, assertGreater, assertLessOrEqual } from "@std/assert";
import type { EngineConfig } from "../src/engine/create_core.ts";
import { createEngineWith, type LocalEngine } from "../src/engine/local_engine.ts";
import type { GenerateOutput, GenerateRequest } from "../src/engine/types.ts";
import {
  collect,
  FAKE_CLOSE,
  FAKE_OPEN,
  fakeModel,
  FakeRunner,
  type FakeRunnerOptions,
} from "./helpers/fake_runner.ts";

function engineWith(
  runnerOpts: FakeRunnerOptions,
  config: Partial<EngineConfig>,
): { engine: LocalEngine; runner: FakeRunner } {
  const runner = new FakeRunner(runnerOpts);
  return { runner, engine: createEngineWith({ ...fakeModel(), runner }, config) };
}

/** A prompt of plain ids; `think` ends it with the open marker (R1-style). */
function prompt(length: number, salt: number, think: boolean): number[] {
  const ids = Array.from({ length }, (_, i) => 3 + (i * 7 + salt * 13) % 19);
  return think ? [...ids, FAKE_OPEN] : ids;
}

function requests(think: boolean): GenerateRequest[] {
  return Array.from({ length: 8 }, (_, i) => ({
    promptIds: prompt(3 + i * 9, i, think),
    maxTokens: 8 + i * 5,
  }));
}

function joined(outputs: GenerateOutput[]): { ids: number[]; text: string } {
  return {
    ids: outputs.flatMap((o) => o.tokenIds),
    text: outputs.map((o) => o.text).join(""),
  };
}

async function alone(
  runnerOpts: FakeRunnerOptions,
  config: Partial<EngineConfig>,
  request: GenerateRequest,
): Promise<{ ids: number[]; text: string }> {
  const { engine } = engineWith(runnerOpts, { ...config, maxNumSeqs: 1 });
  const out = joined(await collect(engine.generate(request)));
  await engine.close();
  return out;
}

async function checkBatchInvariance(
  runnerOpts: FakeRunnerOptions,
  config: Partial<EngineConfig>,
  reqs: GenerateRequest[],
): Promise<LocalEngine> {
  const expected: { ids: number[]; text: string }[] = [];
  for (const r of reqs) expected.push(await alone(runnerOpts, config, r));
  const { engine, runner } = engineWith(runnerOpts, config);
  const outputs = await Promise.all(reqs.map((r) => collect(engine.generate(r))));
  await engine.core.whenIdle();
  assertEquals(runner.errors, []);
  outputs.forEach((o, i) => {
    assertEquals(joined(o), expected[i], `request ${i}`);
    assert(o.at(-1)!.finishReason === "length" || o.at(-1)!.finishReason === "stop");
  });
  assertEquals(engine.core.arena.bytesFree(), engine.core.arena.budgetBytes);
  return engine;
}

Deno.test("LocalEngine.generate() gives each of 8 concurrent greedy requests its output alone (f16)", async () => {
  const config = { maxNumSeqs: 8, maxNumBatchedTokens: 24 };
  const batched = await checkBatchInvariance({ latencyMs: 1 }, config, requests(false));
  assertGreater(batched.stats().tokensByPhase.answer, 0);
});

Deno.test("LocalEngine.generate() is batch-invariant with think int4 and answer int8 blocks", async () => {
  const runnerOpts = { latencyMs: 1, script: (i: number) => i === 9 ? FAKE_CLOSE : null };
  const config = {
    maxNumSeqs: 8,
    maxNumBatchedTokens: 24,
    kvCacheDtypeThink: "int4",
    kvCacheDtypeAnswer: "int8",
  };
  const engine = await checkBatchInvariance(runnerOpts, config, requests(true));
  const stats = engine.stats();
  assertGreater(stats.tokensByPhase.think, 0);
  assertGreater(stats.tokensByPhase.answer, 0);
});

Deno.test("LocalEngine.generate() shares steps between decode rows and prefill chunks within the token budget", async () => {
  const { runner, engine } = engineWith({}, { maxNumSeqs: 8, maxNumBatchedTokens: 16 });
  await Promise.all(requests(false).map((r) => collect(engine.generate(r))));
  await engine.close();
  assertEquals(runner.errors, []);
  assertGreater(runner.numMixedSteps, 0);
  assertLessOrEqual(Math.max(...runner.rowsPerStep), 16);
});

Deno.test("LocalEngine.generate() with seeded sampling matches the request run alone", async () => {
  const reqs = requests(false).map((r, i) => ({
    ...r,
    sampling: { temperature: 0.8, seed: 100 + i },
  }));
  await checkBatchInvariance({ latencyMs: 1 }, { maxNumSeqs: 8, maxNumBatchedTokens: 24 }, reqs);
});

Deno.test("LocalEngine.generate() reports usage with per-phase KV on the last output", async () => {
  const runnerOpts = { script: (i: number) => i === 4 ? FAKE_CLOSE : null };
  // no recent window: every closed think block is sealed at once
  const { engine } = engineWith(runnerOpts, { kvCacheDtypeThink: "int4", kvRecentTokens: 0 });
  const outputs = await collect(engine.generate({ promptIds: prompt(9, 1, true), maxTokens: 20 }));
  await engine.close();
  const usage = outputs.at(-1)!.usage!;
  assertEquals(usage.promptTokens, 10);
  assertEquals(usage.completionTokens, 20);
  assertEquals(usage.reasoningTokens, 5);
  assertEquals(Object.keys(usage.kv.phases.think.dtypes), ["int4"]);
  assertGreater(usage.kv.bitsPerElement, 0);
  assertEquals(outputs.filter((o) => o.phase === "answer").length, 15);
});

Deno.test("LocalEngine.generate() applies a request's KV dtype overrides to its phases", async () => {
  const runnerOpts = { script: (i: number) => i === 8 ? FAKE_CLOSE : null };
  const { engine, runner } = engineWith(runnerOpts, {
    kvCacheDtypeThink: "int4",
    kvRecentTokens: 0,
  });
  const outputs = await collect(engine.generate({
    promptIds: prompt(9, 2, true),
    maxTokens: 24,
    kvCacheDtypeThink: "q8",
    kvCacheDtypeAnswer: "fp8",
  }));
  await engine.close();
  assertEquals(runner.errors, []);
  const phases = outputs.at(-1)!.usage!.kv.phases;
  assertEquals(Object.keys(phases.think.dtypes), ["int8"]);
  assertEquals(Object.keys(phases.answer.dtypes).sort(), ["f16", "fp8"]);
  assertEquals(engine.resolveKvDtype("Q4"), "int4");
});
