import { assert, assertEquals } from "@std/assert";
import { IncrementalDetokenizer } from "../src/engine/detokenizer.ts";
import { createEngineWith } from "../src/engine/local_engine.ts";
import { StopChecker } from "../src/engine/stop_checker.ts";
import type { GenerateRequest } from "../src/engine/types.ts";
import {
  collect,
  FAKE_EOS,
  FAKE_TOKENIZER,
  FAKE_VOCAB,
  fakeModel,
  FakeRunner,
  type FakeRunnerOptions,
} from "./helpers/fake_runner.ts";

async function generate(request: GenerateRequest, runnerOpts: FakeRunnerOptions = {}) {
  const runner = new FakeRunner({ latencyMs: 1, ...runnerOpts });
  const engine = createEngineWith({ ...fakeModel(), runner });
  const outputs = await collect(engine.generate(request));
  await engine.close();
  assertEquals(runner.errors, []);
  return outputs;
}

Deno.test("IncrementalDetokenizer holds back a character split across tokens", () => {
  const detok = new IncrementalDetokenizer(FAKE_TOKENIZER.decode, [3]);
  assertEquals(detok.push(5), " cat");
  assertEquals(detok.push(16), ""); // first byte of é
  assertEquals(detok.push(17), "é");
  assertEquals(detok.push(18), ""); // first byte of →
  assertEquals(detok.push(19), "→");
  assertEquals(detok.push(18), "");
  assertEquals(detok.flush(), "\uFFFD");
});

Deno.test("StopChecker holds back a possible stop-string prefix until the next text settles it", () => {
  const stop = new StopChecker({ eosTokenIds: [0], maxTokens: 10, stop: ["STOP", "xyz"] });
  assertEquals(stop.acceptText(" cat S"), { text: " cat ", stopped: false });
  assertEquals(stop.acceptText("T"), { text: "", stopped: false });
  assertEquals(stop.acceptText("x"), { text: "ST", stopped: false });
  assertEquals(stop.acceptText("ST"), { text: "x", stopped: false });
  assertEquals(stop.acceptText("OP!"), { text: "", stopped: true });
  assert(stop.isStopToken(0));
  assertEquals(stop.checkLength(10), "length");
});

Deno.test("LocalEngine.generate() never emits a stop string split across tokens", async () => {
  const request = { promptIds: [3, 4, 5, 6, 7, 8], maxTokens: 40 };
  const free = await generate(request);
  const tokens = free.flatMap((o) => o.tokenIds);
  const text = free.map((o) => o.text).join("");
  // a stop string spanning the boundary of two multi-character tokens
  const k = tokens.findIndex((t, i) =>
    i > 3 && typeof FAKE_VOCAB[t] === "string" && (FAKE_VOCAB[t] as string).length >= 2 &&
    typeof FAKE_VOCAB[tokens[i + 1]] === "string" &&
    (FAKE_VOCAB[tokens[i + 1]] as string).length >= 2
  );
  assert(k > 0, "the fake model produced no pair of multi-character tokens");
  const left = FAKE_VOCAB[tokens[k]] as string;
  const stopString = left.slice(-2) + (FAKE_VOCAB[tokens[k + 1]] as string).slice(0, 2);
  const outputs = await generate({ ...request, stop: [stopString] });
  const streamed = outputs.map((o) => o.text).join("");
  assertEquals(outputs.at(-1)!.finishReason, "stop");
  assertEquals(streamed, text.slice(0, text.indexOf(stopString)));
  assert(!outputs.some((o) => o.text.includes(stopString)));
});

Deno.test("LocalEngine.generate() stops at EOS unless ignoreEos, and at stop token ids", async () => {
  const script = (i: number) => i === 5 ? FAKE_EOS : null;
  const request = { promptIds: [3, 4, 5], maxTokens: 12 };
  const atEos = await generate(request, { script });
  assertEquals(atEos.flatMap((o) => o.tokenIds).length, 6);
  assertEquals(atEos.at(-1)!.finishReason, "stop");
  assert(!atEos.map((o) => o.text).join("").includes("<eos>"));
  const ignored = await generate({ ...request, ignoreEos: true }, { script });
  assertEquals(ignored.flatMap((o) => o.tokenIds).length, 12);
  assertEquals(ignored.at(-1)!.finishReason, "length");
  const stopId = ignored[2].tokenIds[0];
  const atStopId = await generate({ ...request, ignoreEos: true, stopTokenIds: [stopId] }, {
    script,
  });
  assertEquals(atStopId.flatMap((o) => o.tokenIds).length, 3);
  assertEquals(atStopId.at(-1)!.finishReason, "stop");
});

Deno.test("LocalEngine.generate() throws the runner's error to the reader and frees the KV", async () => {
  const runner = new FakeRunner({ latencyMs: 1 });
  const engine = createEngineWith({ ...fakeModel(), runner });
  const step = runner.step.bind(runner);
  let numSteps = 0;
  runner.step = (input) =>
    ++numSteps === 5 ? Promise.reject(new Error("device lost")) : step(input);
  const err = await collect(engine.generate({ promptIds: [3, 4, 5], maxTokens: 20 })).catch((e) =>
    e
  );
  assertEquals((err as Error).message, "device lost");
  await engine.core.whenIdle();
  // the prefix cache keeps unreferenced prompt blocks until pressure evicts them
  engine.core.scheduler.prefixCache?.clear();
  assertEquals(engine.core.arena.bytesFree(), engine.core.arena.budgetBytes);
  await engine.close();
});
