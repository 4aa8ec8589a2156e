import { assert, assertEquals } from "@std/assert";
import { createApp } from "../src/server/app.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";
import { metricValue } from "./helpers/prometheus.ts";
import { openAiChunks } from "./helpers/sse.ts";

const CLIENTS = 32;
const ABORTING = 8;
const THINK = "Thinking it over, step by step.";
const ANSWER = "Done.";

// deno-lint-ignore no-explicit-any
type Chunk = any;

/** Reads a stream to its end, or aborts it after `abortAfter` reads; returns the text read. */
async function readStream(url: string, abortAfter: number | null): Promise<string | null> {
  const controller = new AbortController();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      messages: [{ role: "user", content: "Count." }],
      stream: true,
      stream_options: { include_usage: true },
    }),
    signal: controller.signal,
  });
  assertEquals(res.status, 200);
  if (abortAfter === null) return await res.text();
  const reader = res.body!.getReader();
  for (let i = 0; i < abortAfter; i++) await reader.read();
  controller.abort();
  await reader.read().catch(() => {});
  return null;
}

function assertComplete(body: string) {
  const { chunks, done } = openAiChunks(body) as { chunks: Chunk[]; done: boolean };
  assert(done, "the stream ends with [DONE]");
  assertEquals(chunks[0].choices[0].delta, { role: "assistant" });
  const choice = chunks.filter((c) => c.choices.length > 0);
  const deltas = choice.slice(1, -1).map((c) => c.choices[0].delta);
  assertEquals(deltas.map((d) => d.reasoning_content ?? "").join(""), THINK);
  assertEquals(deltas.map((d) => d.content ?? "").join(""), ANSWER);
  assertEquals(choice.at(-1).choices[0].finish_reason, "stop");
  assertEquals(chunks.at(-1).choices, []);
  assertEquals(chunks.at(-1).usage.completion_tokens, THINK.length + 1 + ANSWER.length);
  assertEquals(new Set(chunks.map((c) => c.id)).size, 1);
}

Deno.test("32 concurrent streams, some aborted, all complete or cancelled with nothing leaked", async () => {
  const fake = new FakeEngine({ think: THINK, answer: ANSWER, delayMs: 2 });
  const app = createApp(fake);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const results = await Promise.all(
      Array.from(
        { length: CLIENTS },
        (_, i) =>
          readStream(
            `${base}/v1/chat/completions`,
            i % (CLIENTS / ABORTING) === 0 ? 1 + (i % 5) : null,
          ),
      ),
    );
    const complete = results.filter((r): r is string => r !== null);
    assertEquals(complete.length, CLIENTS - ABORTING);
    for (const body of complete) assertComplete(body);

    for (let i = 0; i < 100 && (fake.active > 0 || fake.heldBlocks > 0); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals([fake.active, fake.heldBlocks], [0, 0]);
    assertEquals(fake.blockMap(), []);

    const health = await fetch(`${base}/health`);
    assertEquals([health.status, await health.json()], [200, { status: "ok" }]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const success = (reason: string) =>
      metricValue(metrics, "vllm:request_success_total", { finished_reason: reason });
    assertEquals(success("stop"), CLIENTS - ABORTING);
    assertEquals(success("abort"), ABORTING);
    assertEquals(metricValue(metrics, "vllm:num_requests_running"), 0);
  } finally {
    await server.shutdown();
  }
});
