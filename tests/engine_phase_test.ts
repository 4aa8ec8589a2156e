import { assert, assertEquals } from "@std/assert";
import type { EngineConfig } from "../src/engine/create_core.ts";
import { createEngineWith, type LocalEngine } from "../src/engine/local_engine.ts";
import type { GenerateOutput, GenerateRequest } from "../src/engine/types.ts";
import {
  FAKE_CLOSE,
  FAKE_OPEN,
  fakeModel,
  FakeRunner,
  type FakeRunnerOptions,
} from "./helpers/fake_runner.ts";

function engineWith(runnerOpts: FakeRunnerOptions, config: Partial<EngineConfig>): {
  engine: LocalEngine;
  runner: FakeRunner;
} {
  const runner = new FakeRunner(runnerOpts);
  return { runner, engine: createEngineWith({ ...fakeModel(), runner }, config) };
}

function ids(outputs: GenerateOutput[]): number[] {
  return outputs.flatMap((o) => o.tokenIds);
}

/** Fails when a written, read-back position sits in a block tagged with another phase. */
function checkBlockPhases(engine: LocalEngine): void {
  for (const seq of engine.core.scheduler.running) {
    const end = Math.min(seq.numComputedTokens, seq.numKnownTokens);
    let start = 0;
    for (const block of seq.kv.blocks) {
      for (let p = start; p < Math.min(start + block.tokens, end); p++) {
        assertEquals(block.phase, seq.phaseAt(p), `${seq.id} position ${p}`);
      }
      start += block.tokens;
    }
  }
}

/** Streams `request` on an engine, checking block phases after every output. */
async function run(
  runnerOpts: FakeRunnerOptions,
  config: Partial<EngineConfig>,
  requests: GenerateRequest[],
): Promise<GenerateOutput[][]> {
  const { engine, runner } = engineWith(runnerOpts, config);
  const outputs = await Promise.all(requests.map(async (r) => {
    const out: GenerateOutput[] = [];
    for await (const o of engine.generate(r)) {
      out.push(o);
      checkBlockPhases(engine);
    }
    return out;
  }));
  await engine.close();
  assertEquals(runner.errors, []);
  // the prefix cache keeps unreferenced prompt blocks until pressure evicts them
  engine.core.scheduler.prefixCache?.clear();
  assertEquals(engine.core.arena.bytesFree(), engine.core.arena.budgetBytes);
  return outputs;
}

const PROMPT = [3, 9, 4, 11, 5, 6, 7];

Deno.test("EngineCore forces the close marker after maxThinkTokens; every pipeline depth agrees", async () => {
  const request = { promptIds: [...PROMPT, FAKE_OPEN], maxTokens: 30, maxThinkTokens: 6 };
  const byDepth: number[][] = [];
  for (const pipelineDepth of [1, 2, 3]) {
    const [outputs] = await run({ latencyMs: 1 }, { pipelineDepth }, [request]);
    const tokens = ids(outputs);
    assertEquals(tokens[6], FAKE_CLOSE, `depth ${pipelineDepth}`);
    assertEquals(outputs.map((o) => o.phase), [
      ...Array(7).fill("think"),
      ...Array(23).fill("answer"),
    ]);
    assertEquals(outputs[6].text, "");
    assertEquals(outputs.at(-1)!.usage!.reasoningTokens, 7);
    byDepth.push(tokens);
  }
  assertEquals(byDepth[1], byDepth[0]);
  assertEquals(byDepth[2], byDepth[0]);
});

Deno.test("EngineCore rewinds KV written under the wrong phase when a marker is read back late", async () => {
  // starts in answer; the model opens think at 3 and closes it at 11
  const script = (i: number) => i === 3 ? FAKE_OPEN : i === 11 ? FAKE_CLOSE : null;
  const requests = [0, 1, 2].map((k) => ({ promptIds: PROMPT.slice(k), maxTokens: 24 }));
  const expected = await run({ script }, { pipelineDepth: 1, maxNumSeqs: 1 }, requests);
  for (const pipelineDepth of [2, 3, 4]) {
    const got = await run(
      { script, latencyMs: 1 },
      { pipelineDepth, kvCacheDtypeThink: "int4", kvCacheDtypeAnswer: "int8" },
      requests,
    );
    got.forEach((outputs, i) => {
      assertEquals(ids(outputs), ids(expected[i]), `depth ${pipelineDepth}, request ${i}`);
      const phases = outputs.map((o) => o.phase);
      assertEquals(phases, [
        ...Array(3).fill("answer"),
        ...Array(9).fill("think"),
        ...Array(12).fill("answer"),
      ]);
      const kv = outputs.at(-1)!.usage!.kv.phases;
      assert(Object.keys(kv.think.dtypes).every((d) => d === "int4" || d === "f16"));
      assert(Object.keys(kv.answer.dtypes).every((d) => d === "int8" || d === "f16"));
    });
  }
});

Deno.test("LocalEngine.generate() keeps markers out of the text and tags text with its phase", async () => {
  const script = (i: number) => i === 5 ? FAKE_CLOSE : null;
  const [outputs] = await run({ script }, {}, [{
    promptIds: [...PROMPT, FAKE_OPEN],
    maxTokens: 12,
  }]);
  const think = outputs.filter((o) => o.phase === "think").map((o) => o.text).join("");
  const answer = outputs.filter((o) => o.phase === "answer").map((o) => o.text).join("");
  const decode = fakeModel().tokenizer.decode;
  const tokens = ids(outputs);
  assertEquals(think, decode(tokens.slice(0, 5)));
  assertEquals(answer, decode(tokens.slice(6)));
  assert(!think.includes("think>") && !answer.includes("think>"));
});
