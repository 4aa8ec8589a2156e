import { assert, assertEquals } from "@std/assert";
import { createApp } from "../src/server/app.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";

const CASES_PER_KIND = 70;
const CHAT = "/v1/chat/completions";
const COMPLETIONS = "/v1/completions";
const VALID_CHAT = { messages: [{ role: "user", content: "hi" }], max_tokens: 8 };
const VALID_COMPLETION = { prompt: "hi", max_tokens: 8 };

/** mulberry32: a small seeded PRNG, so a failing case can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(20260401);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)];

function randomJson(depth = 0): unknown {
  const kind = Math.floor(rand() * (depth > 2 ? 5 : 7));
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 2, Math.floor(rand() * 1e6)]);
    case 3:
      return pick(["", "x", "\u0000", "\ud800", "<think>", "💥".repeat(3), "a".repeat(300)]);
    case 4:
      return pick(["user", "system", "assistant", "int4", "f16"]);
    case 5:
      return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(rand() * 4) }, () => [
          pick(["messages", "role", "content", "prompt", "model", "stream", "n", "x"]),
          randomJson(depth + 1),
        ]),
      );
  }
}

// values of the wrong type or out of range for each field, each a certain 400 naming that field
const WRONG: Record<string, unknown[]> = {
  model: [5, true, [], {}],
  max_tokens: [-1, 0, 1.5, "8", 1e308, 2 ** 53 + 2, true],
  max_completion_tokens: [-5, 0.5, "x", []],
  temperature: [-0.1, 2.5, "hot", 1e308, {}],
  top_p: [0, -1, 1.01, "1"],
  top_k: [-2, 1.5, "k"],
  min_p: [-0.1, 1.1, "p"],
  seed: [1.5, "7", 1e308],
  stop: [5, [1], ["a", "b", "c", "d", "e"], { s: 1 }],
  stop_token_ids: [[-1], [1.5], "1", 3],
  ignore_eos: ["yes", 1],
  n: [0, 2, 10, "1"],
  stream: ["true", 1],
  stream_options: ["x", { include_usage: "yes" }],
  presence_penalty: [-2.5, 3, "0"],
  frequency_penalty: [2.1, -9, []],
  kv_cache_dtype_think: ["int9", "", "fp4", 4],
  kv_cache_dtype_answer: ["bf17", 8, "q1"],
  max_think_tokens: [-1, 0.5, "10"],
  include_reasoning: ["no", 0],
  chat_template_kwargs: ["x", 5, []],
  logprobs: ["yes", -1],
  top_logprobs: [21, -1, "5"],
};

interface Case {
  path: string;
  body: BodyInit;
  contentType?: string;
  /** The request is certainly invalid: 4xx expected (else only "not 5xx"). */
  invalid: boolean;
  /** The field a 400 must name, when known. */
  param?: string;
}

const encode = (value: unknown) => JSON.stringify(value);

const KINDS: (() => Case)[] = [
  // any JSON value as the whole body, short of a chat request (no messages)
  () => {
    const value = randomJson();
    if (typeof value === "object" && value !== null) {
      delete (value as { messages?: unknown }).messages;
    }
    return { path: CHAT, body: encode(value), invalid: true };
  },
  // one known field of the wrong type or out of range
  () => {
    const field = pick(Object.keys(WRONG));
    const body = { ...VALID_CHAT, [field]: pick(WRONG[field]) };
    return { path: CHAT, body: encode(body), invalid: true, param: field };
  },
  // malformed messages
  () => {
    const messages = pick([
      randomJson(),
      [randomJson()],
      [{ role: pick(["user", "robot", 5, null]), content: randomJson() }],
      [{ role: "user" }],
      [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }],
      [],
    ]);
    const valid = Array.isArray(messages) && messages.length > 0 &&
      messages.every((m) =>
        typeof m === "object" && m !== null &&
        ["user"].includes((m as { role: unknown }).role as string) &&
        typeof (m as { content: unknown }).content === "string"
      );
    return { path: CHAT, body: encode({ messages }), invalid: !valid, param: "messages" };
  },
  // truncated JSON
  () => {
    const text = encode(pick([VALID_CHAT, VALID_COMPLETION, { ...VALID_CHAT, stream: true }]));
    return {
      path: pick([CHAT, COMPLETIONS]),
      body: text.slice(0, Math.floor(rand() * text.length)),
      invalid: true,
    };
  },
  // invalid UTF-8 somewhere in a valid body
  () => {
    const bytes = new TextEncoder().encode(encode(VALID_CHAT));
    const at = Math.floor(rand() * bytes.length);
    const bad = new Uint8Array([
      ...bytes.slice(0, at),
      pick([0xff, 0xc0, 0xfe]),
      ...bytes.slice(at),
    ]);
    return { path: CHAT, body: bad, invalid: true };
  },
  // a valid body with a content type that is not JSON
  () => ({
    path: CHAT,
    body: encode(VALID_CHAT),
    contentType: pick([
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
      "xml",
    ]),
    invalid: true,
  }),
  // completions with a random prompt and a random extra field: anything but a 5xx
  () => {
    const body = {
      prompt: randomJson(),
      max_tokens: pick([1, 4, 300, -3]),
      [pick(Object.keys(WRONG))]: randomJson(),
    };
    return { path: COMPLETIONS, body: encode(body), invalid: false };
  },
  // a random known field set to a random value, streamed or not: anything but a 5xx
  () => {
    const body = { ...VALID_CHAT, stream: rand() < 0.5, [pick(Object.keys(WRONG))]: randomJson() };
    return { path: CHAT, body: encode(body), invalid: false };
  },
];

Deno.test("malformed and random request bodies get 4xx, never 5xx, and leak nothing", async () => {
  const fake = new FakeEngine({ think: "ab", answer: "c", maxModelLen: 256 });
  const app = createApp(fake);
  let count = 0;
  let accepted = 0;
  for (const kind of KINDS) {
    for (let i = 0; i < CASES_PER_KIND; i++) {
      const c = kind();
      const res = await app.request(c.path, {
        method: "POST",
        headers: { "content-type": c.contentType ?? "application/json" },
        body: c.body,
      });
      const text = await res.text();
      const where = `case ${count} (${c.path}): ${String(c.body).slice(0, 200)} -> ${res.status} ${
        text.slice(0, 200)
      }`;
      assert(res.status < 500, where);
      if (c.invalid) assert(res.status >= 400, where);
      if (res.status >= 400) {
        const error = JSON.parse(text).error;
        assert(typeof error.message === "string" && error.message.length > 0, where);
        if (c.param && res.status === 400) assert(String(error.param).startsWith(c.param), where);
      } else {
        accepted++;
      }
      count++;
    }
  }
  assert(count >= 500, `${count} cases`);
  assert(accepted > 0, "some random bodies are valid and served");
  assertEquals([fake.active, fake.heldBlocks], [0, 0]);
  const after = await app.request(CHAT, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: encode(VALID_CHAT),
  });
  assertEquals(after.status, 200);
  assertEquals((await after.json()).choices[0].message.content, "c");
  assertEquals((await app.request("/health")).status, 200);
});
