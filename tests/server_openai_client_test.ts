import { assert, assertEquals, assertInstanceOf, assertRejects } from "@std/assert";
import OpenAI from "openai";
import { createApp } from "../src/server/app.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";

const KEY = "sk-test";

async function withServer(fake: FakeEngine, run: (client: OpenAI) => Promise<void>) {
  const app = createApp(fake, { apiKeys: [KEY], servedModelName: "tiny-reasoner" });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  try {
    const client = new OpenAI({
      baseURL: `http://127.0.0.1:${server.addr.port}/v1`,
      apiKey: KEY,
      maxRetries: 0,
      timeout: 10_000,
    });
    await run(client);
  } finally {
    await server.shutdown();
  }
}

Deno.test("the openai client streams reasoning, then content, then usage", async () => {
  const fake = new FakeEngine({ think: "Six sevens are 42.", answer: "42", delayMs: 1 });
  await withServer(fake, async (client) => {
    const stream = await client.chat.completions.create({
      model: "tiny-reasoner",
      messages: [{ role: "user", content: "What is 6*7?" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const order: string[] = [];
    let reasoning = "";
    let content = "";
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      // deno-lint-ignore no-explicit-any
      const piece = (choice.delta as any).reasoning_content as string | undefined;
      if (piece) {
        reasoning += piece;
        order.push("reasoning");
      }
      if (choice.delta.content) {
        content += choice.delta.content;
        order.push("content");
      }
      finish = choice.finish_reason ?? finish;
    }
    assertEquals(reasoning, "Six sevens are 42.");
    assertEquals(content, "42");
    assertEquals(order.indexOf("content"), order.lastIndexOf("reasoning") + 1);
    assertEquals(finish, "stop");
    assert(usage);
    assertEquals(usage.completion_tokens_details?.reasoning_tokens, 19);
    assertEquals(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  });
  assertEquals([fake.active, fake.heldBlocks], [0, 0]);
});

Deno.test("the openai client reads non-streamed chat and text completions and models", async () => {
  await withServer(new FakeEngine(), async (client) => {
    const chat = await client.chat.completions.create({
      model: "tiny-reasoner",
      messages: [{ role: "user", content: "hi" }],
      max_completion_tokens: 64,
    });
    assertEquals(chat.choices[0].message.content, "42");
    // deno-lint-ignore no-explicit-any
    assertEquals((chat.choices[0].message as any).reasoning_content, "Let me think.");
    const text = await client.completions.create({
      model: "tiny-reasoner",
      prompt: "Q:",
      max_tokens: 3,
    });
    assertEquals(text.choices[0].text, "Let");
    const models = await client.models.list();
    assertEquals(models.data.map((m) => m.id), ["tiny-reasoner"]);
  });
});

Deno.test("the openai client raises the server's errors with their status and param", async () => {
  await withServer(new FakeEngine(), async (client) => {
    const bad = await assertRejects(() =>
      client.chat.completions.create({
        model: "tiny-reasoner",
        messages: [{ role: "user", content: "hi" }],
        temperature: 5,
      })
    );
    assertInstanceOf(bad, OpenAI.BadRequestError);
    assertEquals(bad.param, "temperature");
    const missing = await assertRejects(() =>
      client.chat.completions.create({
        model: "gpt-4o",
        messages: [{ role: "user", content: "hi" }],
      })
    );
    assertInstanceOf(missing, OpenAI.NotFoundError);
    const unauthorized = new OpenAI({ baseURL: client.baseURL, apiKey: "wrong", maxRetries: 0 });
    await assertRejects(() => unauthorized.models.list(), OpenAI.AuthenticationError);
  });
});
