import { assert, assertEquals, assertGreater, assertNotEquals, assertThrows } from "@std/assert";
import type { EngineConfig } from "../src/engine/create_core.ts";
import { createEngineWith, type LocalEngine } from "../src/engine/local_engine.ts";
import type { GenerateOutput, GenerateRequest } from "../src/engine/types.ts";
import {
  collect,
  FAKE_CLOSE,
  FAKE_OPEN,
  FAKE_VOCAB,
  fakeModel,
  FakeRunner,
  type FakeRunnerOptions,
} from "./helpers/fake_runner.ts";

/** One f16 block of the fake model: 4 tokens × 32 channels × K,V × 2 bytes × 2 layers. */
const F16_BLOCK_BYTES = 4 * 32 * 2 * 2 * 2;
/** First id the fake model's hash produces (below it: EOS and the markers). */
const FIRST_PLAIN = 3;

function engineWith(opts: FakeRunnerOptions, config: Partial<EngineConfig>): {
  engine: LocalEngine;
  runner: FakeRunner;
} {
  const runner = new FakeRunner(opts);
  return { runner, engine: createEngineWith({ ...fakeModel(), runner }, config) };
}

function ids(outputs: GenerateOutput[]): number[] {
  return outputs.flatMap((o) => o.tokenIds);
}

/** Runs `requests` together; returns each one's tokens and the runner. */
async function run(
  opts: FakeRunnerOptions,
  config: Partial<EngineConfig>,
  requests: GenerateRequest[],
): Promise<{ tokens: number[][]; engine: LocalEngine; runner: FakeRunner }> {
  const { engine, runner } = engineWith(opts, config);
  const outputs = await Promise.all(requests.map((r) => collect(engine.generate(r))));
  await engine.core.whenIdle();
  assertEquals(runner.errors, []);
  // the prefix cache keeps unreferenced prompt blocks until pressure evicts them
  engine.core.scheduler.prefixCache?.clear();
  assertEquals(engine.core.arena.bytesFree(), engine.core.arena.budgetBytes);
  await engine.close();
  return { tokens: outputs.map(ids), engine, runner };
}

function request(i: number, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  const promptIds = Array.from({ length: 10 + i * 3 }, (_, k) => 3 + (k * 5 + i) % 19);
  return {
    promptIds,
    maxTokens: 30,
    // the fake model's pick leads the rest by over 0.5, so each of these can overturn it
    presencePenalty: [0.4, 0, 0.7][i % 3],
    frequencyPenalty: [0.3, 0.6, 0.2][i % 3],
    ...extra,
  };
}

Deno.test("Penalties: counts are rebuilt after preemption, so outputs match each request alone", async () => {
  const reqs = Array.from(
    { length: 6 },
    (_, i) => request(i, i % 2 ? { sampling: { temperature: 1, seed: i } } : {}),
  );
  const alone: number[][] = [];
  for (const r of reqs) alone.push((await run({ latencyMs: 1 }, { maxNumSeqs: 1 }, [r])).tokens[0]);
  const unpenalised = await run({ latencyMs: 1 }, { maxNumSeqs: 1 }, [
    { ...reqs[0], presencePenalty: 0, frequencyPenalty: 0 },
  ]);
  assertNotEquals(unpenalised.tokens[0], alone[0], "penalties change the output");

  const crowded = await run({ latencyMs: 1 }, {
    maxNumSeqs: 6,
    maxNumBatchedTokens: 32,
    kvCacheMemory: 28 * F16_BLOCK_BYTES,
    pipelineDepth: 3,
  }, reqs);
  assertGreater(crowded.engine.stats().numPreemptions, 0);
  // one reset per admission, and more for the re-admissions after preemption
  assertGreater(crowded.runner.numCountResets, reqs.length);
  crowded.tokens.forEach((t, i) => assertEquals(t, alone[i], `request ${i}`));
});

Deno.test("Penalties: a large frequency penalty makes greedy cycle through the vocabulary", async () => {
  // base logits lie in [0, 1], so a penalty of 10 per use puts every less-used token first
  const { tokens } = await run({ latencyMs: 1 }, { pipelineDepth: 4 }, [
    request(2, { maxTokens: 40, presencePenalty: 0, frequencyPenalty: 10 }),
  ]);
  const counts = new Map<number, number>();
  for (const t of tokens[0]) {
    counts.set(t, (counts.get(t) ?? 0) + 1);
    const plain = Array.from(
      { length: FAKE_VOCAB.length - FIRST_PLAIN },
      (_, k) => counts.get(FIRST_PLAIN + k) ?? 0,
    );
    assert(Math.max(...plain) - Math.min(...plain) <= 1, `uneven counts after ${t}`);
  }
});

Deno.test("Penalties: counts survive phase rewinds and forced close markers at every pipeline depth", async () => {
  const script = (i: number) => i === 3 ? FAKE_OPEN : i === 11 ? FAKE_CLOSE : null;
  const late = [0, 1, 2].map((k) => request(k, { promptIds: [3, 9, 4, 11, 5, 6, 7].slice(k) }));
  // a strong penalty, so one token miscounted (the sampled one the close marker replaced) shows
  const forced = request(4, {
    promptIds: [3, 9, 4, 11, FAKE_OPEN],
    maxThinkTokens: 5,
    frequencyPenalty: 10,
  });
  const expectedLate = await run({ script }, { pipelineDepth: 1, maxNumSeqs: 1 }, late);
  const expectedForced = await run({}, { pipelineDepth: 1, maxNumSeqs: 1 }, [forced]);
  assertEquals(expectedForced.tokens[0][5], FAKE_CLOSE);
  for (const pipelineDepth of [2, 3, 4]) {
    const got = await run({ script, latencyMs: 1 }, {
      pipelineDepth,
      kvCacheDtypeThink: "int4",
    }, late);
    got.tokens.forEach((t, i) => assertEquals(t, expectedLate.tokens[i], `depth ${pipelineDepth}`));
    const gotForced = await run({ latencyMs: 1 }, { pipelineDepth }, [forced]);
    assertEquals(gotForced.tokens[0], expectedForced.tokens[0], `forced, depth ${pipelineDepth}`);
  }
});

Deno.test("Penalties: a non-finite penalty is refused at submission", () => {
  const { engine } = engineWith({}, {});
  assertThrows(
    () => engine.core.add(request(0, { frequencyPenalty: NaN })),
    RangeError,
    "frequencyPenalty",
  );
});
