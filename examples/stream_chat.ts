/**
 * Streams a chat completion from a running phasekv server with the `openai` package, printing
 * the model's reasoning, then its answer, then the KV memory each phase used.
 *
 *   deno task serve --kv-cache-dtype-think int4 &
 *   deno run -A examples/stream_chat.ts "What is 347+1286?"
 *
 * (The default model adds and subtracts 2–4 digit numbers; its context is 512 tokens.)
 *
 * Environment: PHASEKV_URL (default http://127.0.0.1:8000/v1), PHASEKV_API_KEY.
 * @module
 */
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: Deno.env.get("PHASEKV_URL") ?? "http://127.0.0.1:8000/v1",
  apiKey: Deno.env.get("PHASEKV_API_KEY") ?? "none",
});

const stream = await client.chat.completions.create({
  model: (await client.models.list()).data[0].id,
  messages: [{ role: "user", content: Deno.args[0] ?? "What is 347+1286?" }],
  max_completion_tokens: 256,
  stream: true,
  stream_options: { include_usage: true },
});

const out = new TextEncoder();
const write = (text: string) => Deno.stdout.writeSync(out.encode(text));
let section = "";
for await (const chunk of stream) {
  const delta = chunk.choices[0]?.delta;
  // reasoning-model extensions: `reasoning` (today's vLLM), `reasoning_content` (llama.cpp, SGLang)
  const extra = delta as { reasoning?: string; reasoning_content?: string } | undefined;
  const reasoning = extra?.reasoning ?? extra?.reasoning_content;
  if (reasoning) {
    if (section !== "reasoning") write("\x1b[2m[reasoning]\n");
    section = "reasoning";
    write(reasoning);
  }
  if (delta?.content) {
    if (section !== "answer") write("\x1b[0m\n[answer]\n");
    section = "answer";
    write(delta.content);
  }
  if (chunk.usage) {
    const usage = chunk.usage as OpenAI.CompletionUsage & {
      kv?: { phases: Record<string, { tokens: number; bytes: number; dtypes: object }> };
    };
    write(
      `\x1b[0m\n\n${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens`,
    );
    write(` (${usage.completion_tokens_details?.reasoning_tokens ?? 0} reasoning)\n`);
    for (const [phase, kv] of Object.entries(usage.kv?.phases ?? {})) {
      write(
        `  ${phase}: ${kv.tokens} tokens, ${kv.bytes} KV bytes, ${JSON.stringify(kv.dtypes)}\n`,
      );
    }
  }
}
