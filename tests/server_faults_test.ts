/**
 * Faults found by probing the server as an operator would, each pinned by a test: queue limits
 * on a burst, failed streams counted as errors, stats that are current when scraped.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { createEngine } from "../src/engine/engine.ts";
import { createEngineWith } from "../src/engine/local_engine.ts";
import { createApp } from "../src/server/app.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";
import { fakeModel, FakeRunner } from "./helpers/fake_runner.ts";

const FAKE_BACKEND = new URL("./helpers/fake_runner.ts", import.meta.url).href;

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

/** The value of the sample `name{labels}` in Prometheus text, or undefined. */
function sample(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
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
  assertEquals(sample(metrics, 'phasekv_request_success_total{finished_reason="error"}'), 1);
  assertEquals(
    sample(metrics, 'phasekv_request_success_total{finished_reason="abort"}'),
    undefined,
  );
});

Deno.test("/metrics scraped right after a request on the Worker engine shows the engine idle", async () => {
  const engine = await createEngine({ model: "fake", backend: FAKE_BACKEND, maxNumSeqs: 4 });
  const app = createApp(engine);
  try {
    const res = await post(app, { prompt: [3, 4, 5, 6], max_tokens: 24, ignore_eos: true });
    assertEquals(res.status, 200);
    const { usage } = await res.json();
    const metrics = await (await app.request("/metrics")).text();
    assertEquals(sample(metrics, "phasekv_num_requests_running"), 0);
    assertEquals(sample(metrics, "phasekv_kv_cache_usage_perc"), 0);
    const tokens = ["prompt", "think", "answer"].map((phase) =>
      sample(metrics, `phasekv_tokens_total{phase="${phase}"}`) ?? 0
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
