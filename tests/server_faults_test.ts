/**
 * Faults found by probing the server as an operator would, each pinned by a test: queue limits
 * on a burst, failed streams counted as errors, stats that are current when scraped.
 */
import { assert, assertEquals } from "@std/assert";
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
