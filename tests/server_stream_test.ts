import { assert, assertEquals } from "@std/assert";
import type { GenerateOutput } from "../src/engine/types.ts";
import { createApp } from "../src/server/app.ts";
import { splitPhaseText } from "../src/server/phase_text.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";
import { openAiChunks } from "./helpers/sse.ts";

const USER = [{ role: "user", content: "What is 6*7?" }];

// deno-lint-ignore no-explicit-any
type Chunk = any;

async function stream(fake: FakeEngine, path: string, body: Record<string, unknown>) {
  const res = await createApp(fake).request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "text/event-stream");
  const { chunks, done } = openAiChunks(await res.text());
  return { chunks: chunks as Chunk[], done };
}

Deno.test("a streamed chat completion sends role, reasoning, content, finish, usage, [DONE]", async () => {
  const fake = new FakeEngine({ think: "Six sevens.", answer: "42" });
  const { chunks, done } = await stream(fake, "/v1/chat/completions", {
    messages: USER,
    stream_options: { include_usage: true },
    kv_cache_dtype_think: "int4",
  });
  assert(done, "the stream ends with [DONE]");
  const ids = new Set(chunks.map((c: Chunk) => c.id));
  assertEquals(ids.size, 1);
  assert([...ids][0].startsWith("chatcmpl-"));
  for (const c of chunks) {
    assertEquals(c.object, "chat.completion.chunk");
    assertEquals(c.model, "fake-reasoner");
    assert(Number.isInteger(c.created));
  }
  assertEquals(chunks[0].choices[0].delta, { role: "assistant" });
  const choiceChunks = chunks.filter((c: Chunk) => c.choices.length > 0);
  const deltas = choiceChunks.slice(1, -1).map((c: Chunk) => c.choices[0].delta);
  const kinds = deltas.map((d: Chunk) => Object.keys(d).join());
  const firstContent = kinds.indexOf("content");
  assert(firstContent > 0, "reasoning comes before content");
  // both names by default: today's vLLM reads `reasoning`, llama.cpp and SGLang clients the other
  assert(kinds.slice(0, firstContent).every((k: string) => k === "reasoning,reasoning_content"));
  for (const d of deltas.slice(0, firstContent)) assertEquals(d.reasoning, d.reasoning_content);
  assert(kinds.slice(firstContent).every((k: string) => k === "content"));
  assertEquals(deltas.map((d: Chunk) => d.reasoning_content ?? "").join(""), "Six sevens.");
  assertEquals(deltas.map((d: Chunk) => d.content ?? "").join(""), "42");
  for (const c of choiceChunks.slice(0, -1)) assertEquals(c.choices[0].finish_reason, null);
  assertEquals(choiceChunks.at(-1).choices[0].finish_reason, "stop");

  const usageChunk = chunks.at(-1);
  assertEquals(usageChunk.choices, []);
  const usage = usageChunk.usage;
  assertEquals(usage.prompt_tokens, "<user>What is 6*7?<assistant>".length);
  assertEquals(usage.completion_tokens, 11 + 1 + 2);
  assertEquals(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  assertEquals(usage.completion_tokens_details, { reasoning_tokens: 12 });
  assertEquals(Object.keys(usage.kv.phases), ["prompt", "think", "answer"]);
  assertEquals(usage.kv.phases.think.tokens, 12);
  assertEquals(usage.kv.phases.think.dtypes, { int4: 3 });
  assert(usage.kv.bytes_per_token > 0 && usage.kv.bits_per_element > 0);
  assertEquals([fake.active, fake.heldBlocks], [0, 0]);
});

Deno.test("a streamed chat completion sends no usage chunk unless asked", async () => {
  const { chunks, done } = await stream(new FakeEngine(), "/v1/chat/completions", {
    messages: USER,
  });
  assert(done);
  assert(chunks.every((c: Chunk) => c.choices.length === 1 && c.usage === undefined));
});

Deno.test("a stream cut by max_tokens ends with finish_reason length", async () => {
  const { chunks } = await stream(new FakeEngine(), "/v1/chat/completions", {
    messages: USER,
    max_tokens: 3,
  });
  assertEquals(chunks.at(-1).choices[0].finish_reason, "length");
  const reasoning = chunks.map((c: Chunk) => c.choices[0].delta.reasoning_content ?? "").join("");
  assertEquals(reasoning, "Let");
});

Deno.test("include_reasoning false drops reasoning_content from streams and responses", async () => {
  const { chunks } = await stream(new FakeEngine(), "/v1/chat/completions", {
    messages: USER,
    include_reasoning: false,
  });
  assert(chunks.every((c: Chunk) => c.choices[0].delta.reasoning_content === undefined));
  assert(chunks.every((c: Chunk) => c.choices[0].delta.reasoning === undefined));
  assertEquals(chunks.map((c: Chunk) => c.choices[0].delta.content ?? "").join(""), "42");
  const res = await createApp(new FakeEngine()).request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: USER, include_reasoning: false }),
  });
  assertEquals((await res.json()).choices[0].message, { role: "assistant", content: "42" });
});

Deno.test("enable_thinking false in chat_template_kwargs gives an answer without reasoning", async () => {
  const { chunks } = await stream(new FakeEngine(), "/v1/chat/completions", {
    messages: USER,
    chat_template_kwargs: { enable_thinking: false },
  });
  const deltas = chunks.slice(1, -1).map((c: Chunk) => c.choices[0].delta);
  assertEquals(deltas, [{ content: "4" }, { content: "2" }]);
});

Deno.test("a non-streamed chat completion carries reasoning, content and usage", async () => {
  const fake = new FakeEngine();
  const res = await createApp(fake).request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: USER }),
  });
  assertEquals(res.status, 200);
  const body = await res.json();
  assert(body.id.startsWith("chatcmpl-"));
  assertEquals(body.object, "chat.completion");
  assertEquals(body.choices, [{
    index: 0,
    message: {
      role: "assistant",
      content: "42",
      reasoning: "Let me think.",
      reasoning_content: "Let me think.",
    },
    logprobs: null,
    finish_reason: "stop",
  }]);
  assertEquals(body.usage.completion_tokens_details.reasoning_tokens, 14);
  assertEquals(body.usage.kv.phases.answer.tokens, 2);
  assertEquals([fake.active, fake.heldBlocks], [0, 0]);
});

Deno.test("a streamed text completion returns reasoning and answer as one text", async () => {
  const { chunks, done } = await stream(new FakeEngine(), "/v1/completions", {
    prompt: "Q: 6*7?",
    stream_options: { include_usage: true },
  });
  assert(done);
  assert(chunks.every((c: Chunk) => c.object === "text_completion" && c.id.startsWith("cmpl-")));
  const texts = chunks.filter((c: Chunk) => c.choices.length).map((c: Chunk) => c.choices[0].text);
  assertEquals(texts.join(""), "Let me think.42");
  assertEquals(chunks.at(-2).choices[0].finish_reason, "stop");
  assertEquals(chunks.at(-1).usage.prompt_tokens, 7);
});

Deno.test("an engine failure mid-stream ends the stream with an error event and [DONE]", async () => {
  const fake = new FakeEngine({ failAfter: 3 });
  const { chunks, done } = await stream(fake, "/v1/chat/completions", { messages: USER });
  assert(done);
  const last = chunks.at(-1);
  assertEquals(last.error.type, "server_error");
  assertEquals(chunks.filter((c: Chunk) => c.choices?.[0]?.delta.reasoning_content).length, 3);
  assertEquals([fake.active, fake.heldBlocks], [0, 0]);
});

Deno.test("a client cancelling its stream cancels the request and frees its blocks", async () => {
  const fake = new FakeEngine({ delayMs: 5, think: "x".repeat(200) });
  const res = await createApp(fake).request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: USER, stream: true }),
  });
  const reader = res.body!.getReader();
  await reader.read();
  await reader.read();
  assertEquals(fake.active, 1);
  assert(fake.heldBlocks > 0);
  await reader.cancel();
  for (let i = 0; i < 50 && fake.active > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assertEquals([fake.active, fake.heldBlocks], [0, 0]);
});

Deno.test("splitPhaseText routes text by phase and drops a lone marker of the model's own", () => {
  const out = (text: string, phase: GenerateOutput["phase"]): GenerateOutput => ({
    tokenIds: [1],
    text,
    phase,
  });
  const r1 = { open: "<think>", close: "</think>" };
  assertEquals(splitPhaseText(out("hm", "think"), r1), { reasoning: "hm", content: "" });
  assertEquals(splitPhaseText(out("ok", "answer"), r1), { reasoning: "", content: "ok" });
  assertEquals(splitPhaseText(out("</think>\n", "think"), r1), { reasoning: "", content: "" });
  assertEquals(splitPhaseText(out("<think>", "answer"), r1), { reasoning: "", content: "" });
  assertEquals(splitPhaseText(out("use <think> tags", "answer"), r1).content, "use <think> tags");
  assertEquals(splitPhaseText(out("echo", "prompt"), r1), { reasoning: "", content: "" });
  // another family's markers are the model's, not a hard-coded <think>
  const other = { open: "<|begin_of_thought|>", close: "<|end_of_thought|>" };
  assertEquals(splitPhaseText(out("<|end_of_thought|>", "think"), other).reasoning, "");
  assertEquals(splitPhaseText(out("</think>", "answer"), other).content, "</think>");
  assertEquals(splitPhaseText(out("</think>", "answer"), null).content, "</think>");
});

for (const field of ["reasoning", "reasoning_content"] as const) {
  Deno.test(`--reasoning-field ${field} sends the reasoning in ${field} alone`, async () => {
    const app = createApp(new FakeEngine(), { reasoningField: field });
    const res = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: USER, stream: true }),
    });
    const { chunks } = openAiChunks(await res.text());
    const deltas = chunks.map((c: Chunk) => c.choices[0].delta);
    assertEquals(deltas.map((d: Chunk) => d[field] ?? "").join(""), "Let me think.");
    const other = field === "reasoning" ? "reasoning_content" : "reasoning";
    assert(deltas.every((d: Chunk) => d[other] === undefined));
    const whole = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: USER }),
    });
    const { message } = (await whole.json()).choices[0];
    assertEquals([message[field], message[other]], ["Let me think.", undefined]);
  });
}
