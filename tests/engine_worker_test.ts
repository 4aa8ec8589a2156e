import { assertEquals, assertGreater, assertInstanceOf } from "@std/assert";
import { createEngineOn } from "../src/engine/engine.ts";
import { ContextLengthError } from "../src/engine/errors.ts";
import { createEngineWith } from "../src/engine/local_engine.ts";
import type { GenerateOutput, GenerateRequest } from "../src/engine/types.ts";
import {
  collect,
  FAKE_ENGINE_BACKEND,
  FAKE_OPEN,
  fakeModel,
  FakeRunner,
} from "./helpers/fake_runner.ts";

function ids(outputs: GenerateOutput[]): number[] {
  return outputs.flatMap((o) => o.tokenIds);
}

Deno.test("createEngine() runs the EngineCore in a Worker with the same outputs as in-process", async () => {
  const reqs: GenerateRequest[] = [0, 1, 2, 3].map((i) => ({
    promptIds: [3 + i, 4, 5, 6, 7, FAKE_OPEN],
    maxTokens: 12 + i,
    maxThinkTokens: 5,
  }));
  const local = createEngineWith({ ...fakeModel(), runner: new FakeRunner() });
  const expected = await Promise.all(reqs.map((r) => collect(local.generate(r))));
  await local.close();

  const engine = await createEngineOn({ model: "fake", maxNumSeqs: 4 }, FAKE_ENGINE_BACKEND);
  try {
    assertEquals(engine.modelId, "fake");
    assertEquals(engine.decode(engine.encode(" the cat sat")), " the cat sat");
    assertEquals(engine.applyChatTemplate([{ role: "user", content: " a dog" }]), " a dog");
    assertEquals(engine.resolveKvDtype("auto"), "f16");
    const got = await Promise.all(reqs.map((r) => collect(engine.generate(r))));
    got.forEach((outputs, i) => {
      assertEquals(ids(outputs), ids(expected[i]));
      assertEquals(outputs.map((o) => o.phase), expected[i].map((o) => o.phase));
      assertEquals(outputs.at(-1)!.usage, expected[i].at(-1)!.usage);
    });

    const controller = new AbortController();
    const cancelled: GenerateOutput[] = [];
    for await (const o of engine.generate({ promptIds: [3, 4], maxTokens: 500 }, controller)) {
      cancelled.push(o);
      if (cancelled.length === 3) controller.abort();
    }
    assertEquals(cancelled.at(-1)!.finishReason, "abort");

    const err = await collect(engine.generate({ promptIds: [3], maxTokens: 9000 })).catch((e) => e);
    assertInstanceOf(err, ContextLengthError);

    engine.stats();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stats = engine.stats();
    assertEquals(stats.numRunning, 0);
    assertEquals(stats.kvUsage, 0);
    assertGreater(stats.tokensByPhase.answer, 0);
  } finally {
    await engine.close();
  }
});
