/**
 * /tokenize and /detokenize in vLLM's shapes, and CORS for browser clients.
 */
import { assert, assertEquals } from "@std/assert";
import { createEngineWith } from "../src/engine/local_engine.ts";
import { createApp } from "../src/server/app.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";
import { FAKE_TOKENIZER, fakeModel, FakeRunner } from "./helpers/fake_runner.ts";

function post(app: ReturnType<typeof createApp>, path: string, body: unknown, headers = {}) {
  return app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

Deno.test("/tokenize counts a prompt's tokens and /detokenize reverses them", async () => {
  const engine = createEngineWith({ ...fakeModel(), runner: new FakeRunner() });
  const app = createApp(engine);
  try {
    const res = await post(app, "/tokenize", { prompt: " the cat sat", return_token_strs: true });
    assertEquals(res.status, 200);
    const body = await res.json();
    assertEquals(body.tokens, FAKE_TOKENIZER.encode(" the cat sat"));
    assertEquals(body.count, 3);
    assertEquals(body.max_model_len, 4096);
    assertEquals(body.token_strs, [" the", " cat", " sat"]);
    const back = await post(app, "/detokenize", { tokens: body.tokens });
    assertEquals(await back.json(), { prompt: " the cat sat" });
    const bad = await post(app, "/detokenize", { tokens: [3, 999] });
    assertEquals(bad.status, 400);
    assertEquals((await bad.json()).error.param, "tokens[1]");
    assertEquals((await post(app, "/tokenize", { prompt: "x", model: "other" })).status, 404);
    assertEquals((await post(app, "/tokenize", {})).status, 400);
  } finally {
    await engine.close();
  }
});

Deno.test("/tokenize with messages applies the chat template, as a chat completion would", async () => {
  const fake = new FakeEngine();
  const app = createApp(fake, { apiKeys: ["k"] });
  const messages = [{ role: "user", content: "What is 6*7?" }];
  assertEquals((await post(app, "/tokenize", { messages })).status, 401);
  const res = await post(app, "/tokenize", { messages }, { authorization: "Bearer k" });
  const body = await res.json();
  assertEquals(body.count, fake.encode(fake.applyChatTemplate(messages)).length);
});

Deno.test("--allowed-origins answers preflights and marks responses for those origins only", async () => {
  const app = createApp(new FakeEngine(), {
    allowedOrigins: ["https://ui.example"],
    apiKeys: ["k"],
  });
  const preflight = await app.request("/v1/chat/completions", {
    method: "OPTIONS",
    headers: {
      origin: "https://ui.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
  assert(preflight.status === 204 || preflight.status === 200, String(preflight.status));
  assertEquals(preflight.headers.get("access-control-allow-origin"), "https://ui.example");
  assert(
    preflight.headers.get("access-control-allow-headers")!.toLowerCase().includes("authorization"),
  );
  const res = await app.request("/v1/models", {
    headers: { origin: "https://ui.example", authorization: "Bearer k" },
  });
  assertEquals(res.headers.get("access-control-allow-origin"), "https://ui.example");
  const other = await app.request("/v1/models", {
    headers: { origin: "https://evil.example", authorization: "Bearer k" },
  });
  assertEquals(other.headers.get("access-control-allow-origin"), null);
  const none = await createApp(new FakeEngine()).request("/v1/models", {
    headers: { origin: "https://ui.example" },
  });
  assertEquals(none.headers.get("access-control-allow-origin"), null, "no CORS unless asked");
});
