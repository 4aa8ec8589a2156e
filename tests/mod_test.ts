/** The public API of mod.ts, used the way a `jsr:@phasekv/runtime` user would. */
import { assertEquals, assertInstanceOf, assertStringIncludes, assertThrows } from "@std/assert";
import {
  CheckpointError,
  ContextLengthError,
  createApp,
  KV_DTYPES,
  KvCapacityError,
  kvDtype,
  loadCheckpoint,
  PHASES,
  QueueFullError,
  UnknownKvDtypeError,
} from "../mod.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";
import { createEngineOn } from "../src/engine/engine.ts";
import { FAKE_ENGINE_BACKEND } from "./helpers/fake_runner.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";

Deno.test("mod.ts: createEngine and createApp serve a completion with KV usage by phase", async () => {
  const engine = await createEngineOn({ model: "fake", inProcess: true }, FAKE_ENGINE_BACKEND);
  try {
    const res = await createApp(engine).request("/v1/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: " the cat sat", max_tokens: 6 }),
    });
    assertEquals(res.status, 200);
    const body = await res.json();
    assertEquals([body.object, body.model], ["text_completion", "fake"]);
    assertEquals(Object.keys(body.usage.kv.phases), [...PHASES]);
  } finally {
    await engine.close();
  }
});

Deno.test("mod.ts: createApp takes the promise of an engine and answers 503 until it resolves", async () => {
  let resolve!: (engine: FakeEngine) => void;
  const app = createApp(new Promise<FakeEngine>((r) => resolve = r), { apiKeys: ["k"] });
  assertEquals((await app.request("/health")).status, 503);
  resolve(new FakeEngine());
  await new Promise((r) => setTimeout(r, 0));
  assertEquals((await app.request("/health")).status, 200);
  assertEquals((await app.fetch(new Request("http://x/v1/models"))).status, 401);
});

Deno.test("mod.ts: the KV dtype registry resolves aliases and names unknown dtypes", () => {
  assertEquals(kvDtype("FP8_E4M3").name, "fp8");
  assertEquals(KV_DTYPES.map((d) => d.name).slice(0, 6), [
    "f16",
    "fp8",
    "int8",
    "int4",
    "int3",
    "int2",
  ]);
  assertEquals(kvDtype("rot4").name, "int4");
  const err = assertThrows(() => kvDtype("int5"), UnknownKvDtypeError);
  assertEquals(err.dtype, "int5");
  assertInstanceOf(err, RangeError);
});

Deno.test("mod.ts: loadCheckpoint reads a tiny checkpoint and throws named errors", async () => {
  const dir = await makeTinyCheckpoint({ arch: "qwen2" });
  try {
    const checkpoint = await loadCheckpoint(dir);
    assertEquals(checkpoint.spec.arch, "qwen2");
    assertEquals(checkpoint.spec.numLayers, 2);
    await Deno.remove(`${dir}/config.json`);
    const err = await loadCheckpoint(dir).then(() => null, (e: unknown) => e);
    assertInstanceOf(err, CheckpointError);
    assertStringIncludes((err as Error).message, "config.json");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mod.ts: the engine's refusals are named errors", () => {
  assertEquals(new QueueFullError(4).name, "QueueFullError");
  assertEquals(new ContextLengthError(600, 512).maxModelLen, 512);
  assertEquals(new KvCapacityError(2048, 1024).neededBytes, 2048);
});
