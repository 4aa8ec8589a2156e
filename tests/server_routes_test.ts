import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Hono } from "hono";
import type { EngineApi } from "../src/engine/types.ts";
import { KvCapacityError } from "../src/engine/capacity_error.ts";
import { ContextLengthError, QueueFullError } from "../src/engine/errors.ts";
import { createApp } from "../src/server/app.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";
import { metricValue, parseMetrics } from "./helpers/prometheus.ts";

const CHAT = "/v1/chat/completions";
const USER = [{ role: "user", content: "hi" }];

function post(
  app: { request: (path: string, init: RequestInit) => Response | Promise<Response> },
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function errorOf(res: Response) {
  const body = await res.json();
  return body.error as { message: string; type: string; param: string | null; code: string | null };
}

Deno.test("GET /health answers ok once the engine is ready", async () => {
  const res = await createApp(new FakeEngine()).request("/health");
  assertEquals(res.status, 200);
  assertEquals(await res.json(), { status: "ok" });
});

Deno.test("GET /health answers 503 while the engine loads, then 200", async () => {
  const { promise, resolve } = Promise.withResolvers<EngineApi>();
  const app = createApp(promise);
  const loading = await app.request("/health");
  assertEquals(loading.status, 503);
  assertEquals((await errorOf(loading)).code, "model_loading");
  assertEquals(loading.headers.get("retry-after"), "5");
  assertEquals((await post(app, CHAT, { messages: USER })).status, 503);
  resolve(new FakeEngine());
  await promise;
  assertEquals((await app.request("/health")).status, 200);
});

Deno.test("GET /health answers 503 after a failed load, without the cause's file paths", async () => {
  const app = createApp(Promise.reject(new Error("no model at /home/op/secret/models/x")));
  await new Promise((r) => setTimeout(r, 0));
  const res = await app.request("/health");
  assertEquals(res.status, 503);
  const error = await errorOf(res);
  assertEquals(error.code, "model_load_failed");
  assert(!error.message.includes("/home/op"), error.message);
});

Deno.test("GET /v1/models lists the served model; /v1/models/{id} finds it or 404s", async () => {
  const app = createApp(new FakeEngine(), { servedModelName: "tiny" });
  const list = await (await app.request("/v1/models")).json();
  assertEquals(list.object, "list");
  assertEquals(list.data.map((m: { id: string }) => m.id), ["tiny"]);
  assertEquals(list.data[0].root, "fake-reasoner");
  assertEquals(list.data[0].max_model_len, 4096);
  assertEquals(list.data[0].kv_cache_dtypes.think, { dtype: "int4", source: "profile" });
  assertEquals(list.data[0].kv_cache_dtypes.answer, { dtype: "int8", source: "flag" });
  assertEquals((await app.request("/v1/models/tiny")).status, 200);
  const missing = await app.request("/v1/models/other");
  assertEquals(missing.status, 404);
  assertEquals((await errorOf(missing)).param, "model");
});

Deno.test("GET /metrics exposes engine gauges and the server's latency histograms", async () => {
  const app = createApp(new FakeEngine());
  await (await post(app, CHAT, { messages: USER, stream: true })).text();
  const res = await app.request("/metrics");
  assertEquals(res.status, 200);
  assertStringIncludes(res.headers.get("content-type")!, "text/plain");
  const text = await res.text();
  // parsed by a real Prometheus text-format parser: a malformed line fails here
  const families = new Map(parseMetrics(text).map((f) => [f.name, f]));
  const model = { model_name: "fake-reasoner" };
  const types: Record<string, string> = {
    "vllm:num_requests_running": "GAUGE",
    "vllm:num_requests_waiting": "GAUGE",
    "vllm:kv_cache_usage_perc": "GAUGE",
    "vllm:prompt_tokens_total": "COUNTER",
    "vllm:generation_tokens_total": "COUNTER",
    "vllm:time_to_first_token_seconds": "HISTOGRAM",
    "vllm:inter_token_latency_seconds": "HISTOGRAM",
    "vllm:e2e_request_latency_seconds": "HISTOGRAM",
    "vllm:num_preemptions_total": "COUNTER",
    "vllm:request_success_total": "COUNTER",
    "phasekv_kv_cache_bytes": "GAUGE",
    "phasekv_kv_cache_budget_bytes": "GAUGE",
    "phasekv_tokens_total": "COUNTER",
  };
  for (const [name, type] of Object.entries(types)) {
    assertEquals(families.get(name)?.type, type, name);
    for (const sample of families.get(name)!.metrics) {
      if (sample.labels) assertEquals(sample.labels.model_name, "fake-reasoner", name);
    }
  }
  assertEquals(metricValue(text, "vllm:num_requests_waiting", model), 0);
  assertEquals(metricValue(text, "phasekv_tokens_total", { phase: "think" }), 14);
  assertEquals(metricValue(text, "vllm:generation_tokens_total", model), 16);
  assertEquals(metricValue(text, "vllm:num_preemptions_total", model), 0);
  assertEquals(metricValue(text, "vllm:time_to_first_token_seconds"), 1);
  // 16 tokens: one first token and 15 gaps
  assertEquals(metricValue(text, "vllm:inter_token_latency_seconds"), 15);
  assertEquals(metricValue(text, "vllm:request_success_total", { finished_reason: "stop" }), 1);
  assertEquals(
    families.get("phasekv_kv_cache_dtype_info")?.type,
    "GAUGE",
    "phasekv_kv_cache_dtype_info",
  );
  assertEquals(
    metricValue(text, "phasekv_kv_cache_dtype_info", {
      phase: "think",
      dtype: "int4",
      source: "profile",
    }),
    1,
  );
});

Deno.test("GET /metrics answers while the engine loads, without engine gauges", async () => {
  const app = createApp(new Promise<EngineApi>(() => {}));
  const text = await (await app.request("/metrics")).text();
  assertEquals(metricValue(text, "vllm:time_to_first_token_seconds"), 0);
  assert(!text.includes("vllm:num_requests_running"));
});

Deno.test("GET /v1/kv shows a running request's blocks by phase and dtype", async () => {
  const fake = new FakeEngine({ delayMs: 5 });
  const app = createApp(fake);
  const res = await post(app, CHAT, {
    messages: USER,
    stream: true,
    kv_cache_dtype_think: "int4",
    kv_cache_dtype_answer: "int8",
  });
  const reader = res.body!.getReader();
  await reader.read();
  const live = await (await app.request("/v1/kv")).json();
  assertEquals(live.object, "kv_block_map");
  assertEquals(live.data.length, 1);
  const phases = live.data[0].blocks.map((b: { phase: string }) => b.phase);
  assertEquals(phases[0], "prompt");
  assert(live.data[0].blocks.some((b: { dtype: string }) => b.dtype === "int4"));
  while (!(await reader.read()).done);
  assertEquals((await (await app.request("/v1/kv")).json()).data, []);
});

Deno.test("POST /v1/chat/completions maps the body onto the engine's request", async () => {
  const fake = new FakeEngine();
  const app = createApp(fake);
  const res = await post(app, CHAT, {
    messages: [{
      role: "user",
      content: [{ type: "text", text: "a" }, { type: "text", text: "b" }],
    }],
    temperature: 0.5,
    top_p: 0.9,
    top_k: -1,
    min_p: 0.1,
    seed: 7,
    stop: "###",
    stop_token_ids: [3],
    ignore_eos: true,
    presence_penalty: 1,
    frequency_penalty: -1,
    kv_cache_dtype_think: "FP16",
    max_think_tokens: 5,
    max_tokens: 100,
    max_completion_tokens: 50,
    chat_template_kwargs: { enable_thinking: true },
    some_unknown_field: { ignored: true },
  });
  assertEquals(res.status, 200);
  await res.body?.cancel();
  const request = fake.requests[0];
  assertEquals(fake.decode(request.promptIds), "<user>ab<assistant>");
  assertEquals(request.sampling, { temperature: 0.5, topP: 0.9, topK: 0, minP: 0.1, seed: 7 });
  assertEquals(request.stop, ["###"]);
  assertEquals(request.stopTokenIds, [3]);
  assertEquals(request.ignoreEos, true);
  assertEquals([request.presencePenalty, request.frequencyPenalty], [1, -1]);
  assertEquals(request.kvCacheDtypeThink, "f16");
  assertEquals(request.kvCacheDtypeAnswer, undefined);
  assertEquals(request.maxThinkTokens, 5);
  assertEquals(request.maxTokens, 50);
  assertEquals(fake.lastTemplateKwargs, { enable_thinking: true });
});

Deno.test("POST /v1/chat/completions without max_tokens uses the rest of the context", async () => {
  const fake = new FakeEngine({ maxModelLen: 100 });
  const res = await post(createApp(fake), CHAT, { messages: USER, model: "fake-reasoner" });
  assertEquals(res.status, 200);
  await res.body?.cancel();
  assertEquals(fake.requests[0].maxTokens, 100 - "<user>hi<assistant>".length);
});

Deno.test("POST /v1/completions takes text, token ids, and batches of one", async () => {
  const fake = new FakeEngine();
  const app = createApp(fake);
  for (const prompt of ["ab", [97, 98], ["ab"], [[97, 98]]]) {
    const res = await post(app, "/v1/completions", { prompt, max_tokens: 2 });
    assertEquals(res.status, 200);
    const body = await res.json();
    assertEquals(body.object, "text_completion");
    assertEquals(body.choices[0].text, "Le");
    assertEquals(body.choices[0].finish_reason, "length");
    assertEquals(body.usage.prompt_tokens, 2);
  }
  assertEquals(fake.requests.map((r) => r.promptIds), [[97, 98], [97, 98], [97, 98], [97, 98]]);
});

interface ErrorCase {
  name: string;
  path?: string;
  body: unknown;
  status?: number;
  param: string | null;
  code?: string;
  headers?: Record<string, string>;
}

const ERROR_CASES: ErrorCase[] = [
  { name: "non-JSON body", body: "{not json", param: null, code: "invalid_json" },
  { name: "JSON that is not an object", body: "[1, 2]", param: null, code: "invalid_body" },
  { name: "empty body", body: "", param: null, code: "invalid_json" },
  {
    name: "wrong content type",
    body: JSON.stringify({ messages: USER }),
    headers: { "content-type": "text/plain" },
    status: 415,
    param: null,
  },
  { name: "missing messages", body: {}, param: "messages" },
  { name: "empty messages", body: { messages: [] }, param: "messages" },
  {
    name: "bad role",
    body: { messages: [{ role: "robot", content: "x" }] },
    param: "messages[0].role",
  },
  {
    name: "non-text content part",
    body: { messages: [{ role: "user", content: [{ type: "image_url", image_url: "x" }] }] },
    param: "messages[0].content",
  },
  {
    name: "content of a wrong type",
    body: { messages: [{ role: "user", content: 5 }] },
    param: "messages[0].content",
  },
  {
    name: "messages the chat template rejects",
    body: { messages: [...USER, ...USER] },
    param: "messages",
  },
  { name: "temperature above 2", body: { messages: USER, temperature: 3 }, param: "temperature" },
  { name: "top_p of 0", body: { messages: USER, top_p: 0 }, param: "top_p" },
  { name: "top_k below -1", body: { messages: USER, top_k: -2 }, param: "top_k" },
  { name: "n of 2", body: { messages: USER, n: 2 }, param: "n" },
  {
    name: "five stop strings",
    body: { messages: USER, stop: ["a", "b", "c", "d", "e"] },
    param: "stop",
  },
  { name: "negative max_tokens", body: { messages: USER, max_tokens: -1 }, param: "max_tokens" },
  { name: "fractional max_tokens", body: { messages: USER, max_tokens: 1.5 }, param: "max_tokens" },
  {
    name: "presence_penalty above 2",
    body: { messages: USER, presence_penalty: 3 },
    param: "presence_penalty",
  },
  {
    name: "frequency_penalty below -2",
    body: { messages: USER, frequency_penalty: -3 },
    param: "frequency_penalty",
  },
  { name: "stream as a string", body: { messages: USER, stream: "yes" }, param: "stream" },
  {
    name: "include_usage of a wrong type",
    body: { messages: USER, stream_options: { include_usage: 1 } },
    param: "stream_options.include_usage",
  },
  {
    name: "top_logprobs over 20",
    body: { messages: USER, logprobs: true, top_logprobs: 21 },
    param: "top_logprobs",
  },
  {
    name: "top_logprobs without logprobs",
    body: { messages: USER, top_logprobs: 2 },
    param: "top_logprobs",
  },
  {
    name: "unknown think dtype",
    body: { messages: USER, kv_cache_dtype_think: "int9" },
    param: "kv_cache_dtype_think",
    code: "invalid_kv_dtype",
  },
  {
    name: "unknown answer dtype",
    body: { messages: USER, kv_cache_dtype_answer: "fp4" },
    param: "kv_cache_dtype_answer",
    code: "invalid_kv_dtype",
  },
  {
    name: "prompt longer than the context",
    body: { messages: [{ role: "user", content: "x".repeat(5000) }] },
    param: "messages",
    code: "context_length_exceeded",
  },
  {
    name: "prompt plus max_tokens longer than the context",
    body: { messages: USER, max_tokens: 4090 },
    param: "max_tokens",
    code: "context_length_exceeded",
  },
  {
    name: "max_completion_tokens longer than the context",
    body: { messages: USER, max_completion_tokens: 4090 },
    param: "max_completion_tokens",
    code: "context_length_exceeded",
  },
  {
    name: "unknown model",
    body: { messages: USER, model: "gpt-4" },
    status: 404,
    param: "model",
    code: "model_not_found",
  },
  { name: "completions without a prompt", path: "/v1/completions", body: {}, param: "prompt" },
  {
    name: "completions with an empty prompt",
    path: "/v1/completions",
    body: { prompt: "" },
    param: "prompt",
  },
  {
    name: "completions with two prompts",
    path: "/v1/completions",
    body: { prompt: ["a", "b"] },
    param: "prompt",
  },
  {
    name: "completions with a negative token id",
    path: "/v1/completions",
    body: { prompt: [1, -1] },
    param: "prompt[1]",
  },
  {
    name: "completions with echo",
    path: "/v1/completions",
    body: { prompt: "a", echo: true },
    param: "echo",
  },
  {
    name: "completions with best_of 3",
    path: "/v1/completions",
    body: { prompt: "a", best_of: 3 },
    param: "best_of",
  },
];

for (const c of ERROR_CASES) {
  Deno.test(`POST ${c.path ?? CHAT} rejects ${c.name} naming ${c.param ?? "no param"}`, async () => {
    const fake = new FakeEngine();
    const res = await post(createApp(fake), c.path ?? CHAT, c.body, c.headers);
    assertEquals(res.status, c.status ?? 400);
    const error = await errorOf(res);
    assertEquals(error.param, c.param);
    assertEquals(error.type, "invalid_request_error");
    if (c.code) assertEquals(error.code, c.code);
    if (c.param) assertStringIncludes(error.message, c.param);
    assertEquals(fake.requests.length, 0);
  });
}

Deno.test("an unknown dtype's error lists the valid names", async () => {
  const res = await post(createApp(new FakeEngine()), CHAT, {
    messages: USER,
    kv_cache_dtype_think: "int9",
  });
  assertStringIncludes((await errorOf(res)).message, "f16, fp8, int8, int4, int3, int2");
});

Deno.test("an invalid UTF-8 body gets 400", async () => {
  const res = await createApp(new FakeEngine()).request(CHAT, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
  });
  assertEquals(res.status, 400);
  assertEquals((await errorOf(res)).code, "invalid_body");
});

Deno.test("a body over the size limit gets 413", async () => {
  const app = createApp(new FakeEngine(), { maxBodyBytes: 1024 });
  const res = await post(app, CHAT, { messages: [{ role: "user", content: "x".repeat(2000) }] });
  assertEquals(res.status, 413);
  assertEquals((await errorOf(res)).code, "body_too_large");
});

Deno.test("unknown routes get 404 and wrong methods 405 with Allow", async () => {
  const app = createApp(new FakeEngine());
  const missing = await app.request("/v1/embeddings", { method: "POST" });
  assertEquals(missing.status, 404);
  assertEquals((await errorOf(missing)).code, "unknown_url");
  const wrong = await app.request(CHAT);
  assertEquals(wrong.status, 405);
  assertEquals(wrong.headers.get("allow"), "POST");
  assertEquals((await errorOf(wrong)).code, "method_not_allowed");
  assertEquals((await app.request("/health", { method: "DELETE" })).status, 405);
});

Deno.test("API keys guard /v1/* and leave /health and /metrics open", async () => {
  const app = createApp(new FakeEngine(), { apiKeys: ["k1", "k2"] });
  const none = await app.request("/v1/models");
  assertEquals(none.status, 401);
  assertEquals((await errorOf(none)).type, "authentication_error");
  assertEquals(none.headers.get("www-authenticate"), 'Bearer realm="phasekv"');
  const wrong = await app.request("/v1/models", { headers: { authorization: "Bearer k3" } });
  assertEquals(wrong.status, 401);
  assertEquals((await errorOf(wrong)).code, "invalid_api_key");
  assertEquals((await post(app, CHAT, { messages: USER })).status, 401);
  for (const key of ["k1", "k2"]) {
    assertEquals(
      (await app.request("/v1/models", { headers: { authorization: `Bearer ${key}` } })).status,
      200,
    );
  }
  assertEquals((await app.request("/health")).status, 200);
  assertEquals((await app.request("/metrics")).status, 200);
});

const REFUSALS: [string, () => Error, number, string | null][] = [
  [
    "RangeError",
    () => new RangeError("maxTokens must be a positive integer"),
    400,
    "invalid_request",
  ],
  ["TypeError", () => new TypeError("bad sampling"), 400, "invalid_request"],
  ["ContextLengthError", () => new ContextLengthError(5000, 4096), 400, "context_length_exceeded"],
  [
    "KvCapacityError",
    () => new KvCapacityError(1 << 30, 1 << 20),
    400,
    "kv_cache_capacity_exceeded",
  ],
  ["QueueFullError", () => new QueueFullError(8), 503, "queue_full"],
  ["any other Error", () => new Error("GPU lost"), 500, null],
];

for (const [name, error, status, code] of REFUSALS) {
  Deno.test(`an engine refusing a request with ${name} at submit gets ${status}`, async () => {
    const fake = new FakeEngine({ refuseWith: error });
    for (const stream of [false, true]) {
      const res = await post(createApp(fake), CHAT, { messages: USER, stream });
      assertEquals(res.status, status);
      const body = await errorOf(res);
      assertEquals(body.code, code);
      assertStringIncludes(body.message, error().message);
    }
  });
}

Deno.test("a full engine queue gets 503 with Retry-After", async () => {
  const fake = new FakeEngine({ maxActive: 1, delayMs: 5 });
  const app = createApp(fake);
  const first = await post(app, CHAT, { messages: USER, stream: true });
  assertEquals(first.status, 200);
  const second = await post(app, CHAT, { messages: USER });
  assertEquals(second.status, 503);
  assertEquals(second.headers.get("retry-after"), "1");
  const error = await errorOf(second);
  assertEquals([error.type, error.code], ["unavailable_error", "queue_full"]);
  await first.text();
  assertEquals(fake.active, 0);
});

Deno.test("createApp mounts under a prefix of another Hono app", async () => {
  const outer = new Hono();
  outer.get("/", (c) => c.text("mine"));
  outer.route("/llm", createApp(new FakeEngine(), { apiKeys: ["k"] }));
  assertEquals(await (await outer.request("/")).text(), "mine");
  assertEquals((await outer.request("/llm/health")).status, 200);
  assertEquals((await post(outer, "/llm/v1/chat/completions", { messages: USER })).status, 401);
  const res = await post(outer, "/llm/v1/chat/completions", { messages: USER }, {
    authorization: "Bearer k",
  });
  assertEquals((await res.json()).choices[0].message.content, "42");
  const wrongMethod = await outer.request("/llm/v1/chat/completions", {
    headers: { authorization: "Bearer k" },
  });
  assertEquals(wrongMethod.status, 405);
});
