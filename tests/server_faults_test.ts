/**
 * Faults found by probing the server as an operator would, each pinned by a test: queue limits
 * on a burst, failed streams counted as errors, stats that are current when scraped.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { createEngineOn } from "../src/engine/engine.ts";
import { createEngineWith } from "../src/engine/local_engine.ts";
import { createApp } from "../src/server/app.ts";
import { createLogger } from "../src/server/log.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";
import { metricValue } from "./helpers/prometheus.ts";
import { FAKE_ENGINE_BACKEND, fakeModel, FakeRunner } from "./helpers/fake_runner.ts";

function post(
  app: { request: (p: string, i: RequestInit) => Response | Promise<Response> },
  body: unknown,
) {
  return app.request("/v1/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

Deno.test("--max-waiting 0 takes a burst that fits the free slots and refuses one more", async () => {
  const engine = createEngineWith(
    { ...fakeModel(), runner: new FakeRunner({ latencyMs: 2 }) },
    { maxWaiting: 0, maxNumSeqs: 4 },
  );
  const app = createApp(engine);
  try {
    const burst = await Promise.all(
      [0, 1, 2, 3].map(() => post(app, { prompt: [3, 4, 5], max_tokens: 30, stream: true })),
    );
    assertEquals(burst.map((r) => r.status), [200, 200, 200, 200]);
    const fifth = await post(app, { prompt: [3, 4], max_tokens: 4 });
    assertEquals(fifth.status, 503);
    assertEquals((await fifth.json()).error.code, "queue_full");
    await Promise.all(burst.map((r) => r.text()));
    await engine.core.whenIdle();
    // idle again: a request that can start at once is taken
    assertEquals((await post(app, { prompt: [3, 4], max_tokens: 4 })).status, 200);
  } finally {
    await engine.close();
  }
});

Deno.test("--max-waiting N lets N requests wait for a slot, then answers 503 queue_full", async () => {
  const engine = createEngineWith(
    { ...fakeModel(), runner: new FakeRunner({ latencyMs: 2 }) },
    { maxWaiting: 1, maxNumSeqs: 1 },
  );
  const app = createApp(engine);
  try {
    const running = await post(app, { prompt: [3, 4, 5], max_tokens: 20, stream: true });
    const waiting = post(app, { prompt: [3, 4], max_tokens: 4, stream: true });
    await new Promise((r) => setTimeout(r, 5));
    const refused = await post(app, { prompt: [3], max_tokens: 4 });
    assertEquals(refused.status, 503);
    assertEquals(refused.headers.get("retry-after"), "1");
    await Promise.all([running.text(), (await waiting).text()]);
  } finally {
    await engine.close();
  }
});

Deno.test("a stream the engine fails counts as an error in /metrics, not as an abort", async () => {
  const app = createApp(new FakeEngine({ failAfter: 3 }));
  const res = await app.request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], stream: true }),
  });
  assertEquals(res.status, 200);
  await res.text();
  const metrics = await (await app.request("/metrics")).text();
  assertEquals(metricValue(metrics, "vllm:request_success_total", { finished_reason: "error" }), 1);
  assertEquals(
    metricValue(metrics, "vllm:request_success_total", { finished_reason: "abort" }),
    undefined,
  );
});

Deno.test("/metrics scraped right after a request on the Worker engine shows the engine idle", async () => {
  const engine = await createEngineOn({ model: "fake", maxNumSeqs: 4 }, FAKE_ENGINE_BACKEND);
  const app = createApp(engine);
  try {
    const res = await post(app, { prompt: [3, 4, 5, 6], max_tokens: 24, ignore_eos: true });
    assertEquals(res.status, 200);
    const { usage } = await res.json();
    const metrics = await (await app.request("/metrics")).text();
    assertEquals(metricValue(metrics, "vllm:num_requests_running"), 0);
    assertEquals(metricValue(metrics, "vllm:kv_cache_usage_perc"), 0);
    const tokens = ["prompt", "think", "answer"].map((phase) =>
      metricValue(metrics, "phasekv_tokens_total", { phase }) ?? 0
    );
    assertEquals(tokens[0], usage.prompt_tokens);
    assertEquals(tokens[1] + tokens[2], usage.completion_tokens);
    const kv = await (await app.request("/v1/kv")).json();
    assertEquals(kv.data, []);
    assert(kv.kv_bytes !== undefined);
  } finally {
    await engine.close();
  }
});

const CHAT = "/v1/chat/completions";
const USER = [{ role: "user", content: "hi" }];

function postTo(app: ReturnType<typeof createApp>, path: string, body: unknown) {
  return app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

const UNSUPPORTED: [string, unknown][] = [
  ["tools", [{ type: "function", function: { name: "f", parameters: {} } }]],
  ["tool_choice", "required"],
  ["response_format", { type: "json_object" }],
  ["functions", [{ name: "f" }]],
  ["logit_bias", { "5": 100 }],
  ["guided_json", { type: "object" }],
];

for (const [field, value] of UNSUPPORTED) {
  Deno.test(`${field} is refused with a 400 naming it, not answered as free text`, async () => {
    const fake = new FakeEngine();
    const res = await postTo(createApp(fake), CHAT, { messages: USER, [field]: value });
    assertEquals(res.status, 400);
    const { error } = await res.json();
    assertEquals(error.param, field);
    assertStringIncludes(error.message, `${field} is not supported`);
    assertEquals(fake.requests.length, 0);
  });
}

Deno.test("the neutral values clients send by default (tools: [], tool_choice none) are taken", async () => {
  const res = await postTo(createApp(new FakeEngine()), CHAT, {
    messages: USER,
    tools: [],
    tool_choice: "none",
    response_format: { type: "text" },
    logit_bias: {},
  });
  assertEquals(res.status, 200);
});

Deno.test("a 10k-deep chat_template_kwargs is a 400 naming it, with no stack error or path", async () => {
  let deep: unknown = 1;
  for (let i = 0; i < 10_000; i++) deep = { a: deep };
  const res = await postTo(createApp(new FakeEngine()), CHAT, {
    messages: USER,
    chat_template_kwargs: deep,
  });
  assertEquals(res.status, 400);
  const { error } = await res.json();
  assertEquals(error.param, "chat_template_kwargs");
  assert(!/stack|\/work\/|file:/i.test(error.message), error.message);
});

Deno.test("a 10k-character dtype is refused without being echoed back", async () => {
  const long = "x".repeat(10_000);
  const res = await postTo(createApp(new FakeEngine()), CHAT, {
    messages: USER,
    kv_cache_dtype_think: long,
  });
  assertEquals(res.status, 400);
  const text = await res.text();
  assert(text.length < 1000, `${text.length} characters`);
  assertEquals(JSON.parse(text).error.param, "kv_cache_dtype_think");
});

Deno.test("a body that does not arrive within the read deadline gets 408", async () => {
  const app = createApp(new FakeEngine(), { bodyReadTimeoutMs: 100 });
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"messages": ['));
    },
  });
  const started = Date.now();
  const res = await app.request(CHAT, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  assertEquals(res.status, 408);
  assertEquals((await res.json()).error.code, "body_read_timeout");
  assert(Date.now() - started < 5000);
});

Deno.test("--max-open-requests caps requests served at once, streams until their last byte", async () => {
  const app = createApp(new FakeEngine({ delayMs: 5 }), { maxOpenRequests: 2 });
  const a = await postTo(app, CHAT, { messages: USER, stream: true });
  const b = await postTo(app, CHAT, { messages: USER, stream: true });
  const refused = await postTo(app, CHAT, { messages: USER });
  assertEquals(refused.status, 503);
  assertEquals((await refused.json()).error.code, "server_busy");
  assertEquals((await app.request("/health")).status, 200, "/health is not capped");
  await a.text();
  await b.text();
  assertEquals((await postTo(app, CHAT, { messages: USER })).status, 200);
});

Deno.test("/v1/kv names a running request by the id its response carries", async () => {
  const engine = createEngineWith(
    { ...fakeModel(), runner: new FakeRunner({ latencyMs: 2 }) },
    { maxNumSeqs: 2 },
  );
  const app = createApp(engine);
  try {
    const res = await post(app, { prompt: [3, 4, 5], max_tokens: 200, stream: true });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const id = JSON.parse(first.slice(first.indexOf("{"), first.lastIndexOf("}") + 1)).id;
    assert(id.startsWith("cmpl-"));
    const kv = await (await app.request("/v1/kv")).json();
    assertEquals(kv.data.map((d: { request_id: string }) => d.request_id), [id]);
    await reader.cancel();
  } finally {
    await engine.close();
  }
});

Deno.test("one log line per request names the response id, tokens by phase, KV bytes and timings", async () => {
  const lines: string[] = [];
  const logger = createLogger("info", (_level, line) => lines.push(line));
  const app = createApp(new FakeEngine(), { logger });
  const res = await postTo(app, CHAT, { messages: USER });
  const body = await res.json();
  const line = lines.find((l) => l.startsWith(body.id));
  assert(line, lines.join("\n"));
  const u = body.usage;
  const kvBytes = Object.values(u.kv.phases as Record<string, { bytes: number }>)
    .reduce((n, p) => n + p.bytes, 0);
  assertStringIncludes(line, "200 stop");
  assertStringIncludes(line, `prompt=${u.prompt_tokens}`);
  assertStringIncludes(line, `think=${u.completion_tokens_details.reasoning_tokens}`);
  assertStringIncludes(
    line,
    `answer=${u.completion_tokens - u.completion_tokens_details.reasoning_tokens}`,
  );
  assertStringIncludes(line, `kv_bytes=${kvBytes}`);
  assert(/ttft=\d+\.\d{3}s duration=\d+\.\d{3}s$/.test(line), line);
  // --log-level warn drops them
  const quiet: string[] = [];
  const warnApp = createApp(new FakeEngine(), {
    logger: createLogger("warn", (_l, l) => quiet.push(l)),
  });
  await (await postTo(warnApp, CHAT, { messages: USER })).json();
  assertEquals(quiet, []);
});

Deno.test("while draining, /health and new requests answer 503 draining; metrics stay open", async () => {
  let draining = false;
  const app = createApp(new FakeEngine(), { isDraining: () => draining });
  assertEquals((await app.request("/health")).status, 200);
  draining = true;
  const health = await app.request("/health");
  assertEquals([health.status, (await health.json()).error.code], [503, "draining"]);
  assertEquals((await postTo(app, CHAT, { messages: USER })).status, 503);
  assertEquals((await app.request("/metrics")).status, 200);
});
