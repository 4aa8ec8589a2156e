/**
 * The real app over the real engine (WebGPU, a software adapter will do) on a tiny R1-style
 * checkpoint the test writes, and `deno task serve` on the repository's default model.
 */
import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import { createEngine } from "../src/engine/engine.ts";
import type { EngineApi, GenerateOutput } from "../src/engine/types.ts";
import { PHASES } from "../src/kv/types.ts";
import { createApp } from "../src/server/app.ts";
import { startEngine } from "../src/server/engine_factory.ts";
import { serveFlagsFromEnv } from "../src/server/flags.ts";
import { lazyServeHandler } from "../src/server/serve.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";
import { openAiChunks, sseData } from "./helpers/sse.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const hasGpu = await navigator.gpu?.requestAdapter().then((a) => a !== null, () => false) ??
  false;
const DEFAULT_MODEL = new URL("../models/phasekv-tiny-reasoner/", import.meta.url);
const hasDefaultModel = await Deno.stat(new URL("model.safetensors", DEFAULT_MODEL)).then(
  () => true,
  () => false,
);

const USER = [{ role: "user", content: "What is 6*7?" }];
// engine defaults: int8 prompt blocks, int4 think and int3 answer blocks, 4 tokens a block, and
// a recent window of one block so that these short generations seal blocks
const KV = {
  kvCacheDtype: "int8",
  kvCacheDtypeThink: "int4",
  kvCacheDtypeAnswer: "int3",
  kvRecentTokens: 4,
};
const PHASE_DTYPES: Record<string, string> = { prompt: "int8", think: "int4", answer: "int3" };

/** The engine, with every output its generate() streams recorded per request. */
function recording(engine: EngineApi): { engine: EngineApi; runs: GenerateOutput[][] } {
  const runs: GenerateOutput[][] = [];
  async function* generate(...args: Parameters<EngineApi["generate"]>) {
    const run: GenerateOutput[] = [];
    runs.push(run);
    for await (const output of engine.generate(...args)) {
      run.push(output);
      yield output;
    }
  }
  // a Proxy and not a spread: the engine's methods read its private fields through `this`
  const proxy = new Proxy(engine, {
    get(target, key) {
      if (key === "generate") return generate;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { engine: proxy, runs };
}

async function withTinyEngine(fn: (engine: EngineApi) => Promise<void>): Promise<void> {
  const dir = await makeTinyCheckpoint({ seed: 7 });
  const engine = await createEngine({ model: dir, inProcess: true, blockSize: 4, ...KV });
  try {
    await fn(engine);
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function post(body: Record<string, unknown>): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  };
}

async function until(
  what: string,
  ok: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!await ok()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Reads SSE events from a streamed body until `count` data events have arrived. */
async function readEvents(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  count: number,
): Promise<string[]> {
  const decoder = new TextDecoder();
  let text = "";
  while (sseData(text).length <= count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return sseData(text);
}

Deno.test({
  name: "a streamed chat completion on the real engine splits reasoning and content by phase",
  ignore: !hasGpu,
  fn: () =>
    withTinyEngine(async (real) => {
      const { engine, runs } = recording(real);
      const res = await createApp(engine).request(
        "/v1/chat/completions",
        post({
          messages: USER,
          stream: true,
          stream_options: { include_usage: true },
          max_tokens: 20,
          max_think_tokens: 9,
          ignore_eos: true,
        }),
      );
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("content-type"), "text/event-stream");
      const { chunks, done }: { chunks: Json[]; done: boolean } = openAiChunks(await res.text());
      assert(done, "the stream ends with [DONE]");
      assertEquals(new Set(chunks.map((c: Json) => c.id)).size, 1);
      for (const c of chunks) {
        assertEquals([c.object, c.model], ["chat.completion.chunk", real.modelId]);
      }
      const choices = chunks.filter((c: Json) => c.choices.length === 1);
      assertEquals(choices[0].choices[0].delta, { role: "assistant" });
      assertEquals(choices.at(-1).choices[0].finish_reason, "length");
      const deltas = choices.slice(1, -1).map((c: Json) => c.choices[0].delta);

      // what the client read is what the engine reported, phase by phase
      assertEquals(runs.length, 1);
      const textOf = (phase: string) =>
        runs[0].filter((o) => o.phase === phase).map((o) => o.text).join("");
      const reasoning = deltas.map((d: Json) => d.reasoning_content ?? "").join("");
      const content = deltas.map((d: Json) => d.content ?? "").join("");
      assertEquals(reasoning, textOf("think"));
      assertEquals(content, textOf("answer"));
      const firstContent = deltas.findIndex((d: Json) => d.content !== undefined);
      assert(deltas.slice(firstContent).every((d: Json) => d.reasoning_content === undefined));

      const usage = chunks.at(-1).usage;
      const last = runs[0].at(-1)!.usage!;
      assertEquals(usage.completion_tokens, 20);
      assertEquals(usage.prompt_tokens, last.promptTokens);
      assertEquals(usage.completion_tokens_details.reasoning_tokens, last.reasoningTokens);
      assert(last.reasoningTokens <= 10, "the think budget closed the think phase");
      const phases = usage.kv.phases;
      assertEquals(Object.keys(phases), ["prompt", "think", "answer"]);
      assertEquals(phases.prompt.tokens, usage.prompt_tokens);
      for (const phase of PHASES) {
        const { tokens, blocks, bytes, dtypes } = last.kv.phases[phase];
        assertEquals(phases[phase], { tokens, blocks, bytes, dtypes });
        // full blocks are sealed to the phase's dtype; only the open block stays f16
        for (const dtype of Object.keys(dtypes)) {
          assert([PHASE_DTYPES[phase], "f16"].includes(dtype), `${phase}: ${dtype}`);
        }
      }
      assertGreater(phases.think.dtypes.int4 ?? 0, 0);
      assertGreater(phases.answer.tokens, 0);
      assert(usage.kv.bytes_per_token > 0 && usage.kv.bits_per_element < 16);
      await until("the KV cache to empty", () => real.stats().kvUsage === 0);
    }),
});

Deno.test({
  name: "a cancelled stream frees every KV block, and /v1/kv shows blocks while it runs",
  ignore: !hasGpu,
  fn: () =>
    withTinyEngine(async (engine) => {
      const app = createApp(engine);
      const res = await app.request(
        "/v1/chat/completions",
        post({ messages: USER, stream: true, max_tokens: 400, ignore_eos: true }),
      );
      assertEquals(res.status, 200);
      const reader = res.body!.getReader();
      // the role chunk, then a dozen tokens: the prompt blocks are sealed by now
      await readEvents(reader, 13);

      const kv: Json = await (await app.request("/v1/kv")).json();
      assertEquals(kv.object, "kv_block_map");
      assertEquals(kv.data.length, 1);
      const blocks: Json[] = kv.data[0].blocks;
      assertEquals(blocks[0].phase, "prompt");
      assert(blocks.some((b) => b.phase === "think"), JSON.stringify(blocks));
      for (const b of blocks) assert([PHASE_DTYPES[b.phase], "f16"].includes(b.dtype));
      assert(blocks.some((b) => b.dtype === "int8"), "a sealed prompt block is int8");
      assertGreater(kv.kv_cache_usage_perc, 0);
      assertGreater(engine.stats().kvUsage, 0);

      await reader.cancel();
      await until("the KV cache to empty", () => engine.stats().kvUsage === 0);
      assertEquals(engine.stats().numRunning, 0);
      assertEquals(engine.blockMap(), []);
      const metrics = await (await app.request("/metrics")).text();
      assertStringIncludes(metrics, 'phasekv_request_success_total{finished_reason="abort"} 1');
    }),
});

Deno.test({
  name: "/metrics after a request counts its tokens by phase",
  ignore: !hasGpu,
  fn: () =>
    withTinyEngine(async (engine) => {
      const app = createApp(engine);
      const res = await app.request(
        "/v1/chat/completions",
        post({ messages: USER, max_tokens: 12, max_think_tokens: 5, ignore_eos: true }),
      );
      assertEquals(res.status, 200);
      const body: Json = await res.json();
      assertEquals(body.object, "chat.completion");
      const metrics = await (await app.request("/metrics")).text();
      const counter = (phase: string) =>
        Number(
          new RegExp(`^phasekv_tokens_total\\{phase="${phase}"\\} (\\d+)$`, "m")
            .exec(metrics)?.[1],
        );
      const { usage } = body;
      assertEquals(counter("prompt"), usage.prompt_tokens);
      assertEquals(counter("think"), usage.completion_tokens_details.reasoning_tokens);
      assertEquals(counter("think") + counter("answer"), usage.completion_tokens);
      assertStringIncludes(metrics, 'phasekv_request_success_total{finished_reason="length"} 1');
    }),
});

Deno.test({
  name: "the deno serve handler starts the engine its PHASEKV_* variables describe on first use",
  ignore: !hasGpu,
  fn: async () => {
    const dir = await makeTinyCheckpoint({ seed: 7 });
    const env: Record<string, string> = {
      PHASEKV_MODEL: dir,
      PHASEKV_API_KEY: "sk-a,sk-b",
      PHASEKV_SERVED_MODEL_NAME: "tiny",
      PHASEKV_BLOCK_SIZE: "4",
      PHASEKV_KV_CACHE_DTYPE_THINK: "int4",
      PHASEKV_KV_RECENT_TOKENS: "4",
      PHASEKV_KV_CACHE_MEMORY: "1MiB",
    };
    const engines: EngineApi[] = [];
    const handler = lazyServeHandler(serveFlagsFromEnv((name) => env[name]), async (flags) => {
      const engine = await startEngine(flags, { inProcess: true, onProgress: () => {} });
      engines.push(engine);
      return engine;
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      assertEquals(engines.length, 0, "nothing loads before the first request");
      const health = () => handler.fetch(new Request("http://phasekv/health"));
      assertEquals((await health()).status, 503);
      await until("the engine to load", async () => (await health()).status === 200);
      assertEquals(engines.length, 1);
      assert(engines[0].stats().kvBudgetBytes <= 2 ** 20, "PHASEKV_KV_CACHE_MEMORY is the budget");
      const chat = (key: string) =>
        handler.fetch(
          new Request("http://phasekv/v1/chat/completions", {
            ...post({ model: "tiny", messages: USER, max_tokens: 12, ignore_eos: true }),
            headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
          }),
        );
      assertEquals((await chat("sk-wrong")).status, 401);
      const res = await chat("sk-b");
      assertEquals(res.status, 200);
      const body: Json = await res.json();
      assertEquals(body.model, "tiny");
      assertGreater(body.usage.kv.phases.think.dtypes.int4 ?? 0, 0);
    } finally {
      for (const engine of engines) await engine.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deno task serve on the default model: /health turns 200, a chat completion answers",
  ignore: !hasGpu || !hasDefaultModel,
  fn: async () => {
    const main = new URL("../src/server/main.ts", import.meta.url);
    // run from the repository root so deno.json (its unstable flags) applies, as with the task
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main.pathname, "--port", "0", "--kv-cache-dtype-think", "int4"],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let out = "";
      let url: string | undefined;
      while (!url) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`the server exited: ${out}${await stderr}`);
        out += value;
        url = /listening on (http:\S+)/.exec(out)?.[1];
      }
      const end = Date.now() + 60_000;
      let health = 0;
      while (health !== 200 && Date.now() < end) {
        const res = await fetch(`${url}/health`);
        health = res.status;
        await res.body?.cancel();
        if (health !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assertEquals(health, 200, "the model loads within a minute");
      const res = await fetch(
        `${url}/v1/chat/completions`,
        post({ messages: USER, max_tokens: 8 }),
      );
      assertEquals(res.status, 200);
      const body: Json = await res.json();
      assertEquals(body.model, "phasekv-tiny-reasoner");
      assertEquals(body.usage.prompt_tokens, body.usage.kv.phases.prompt.tokens);
    } finally {
      child.kill("SIGTERM");
      await lines.cancel();
    }
    const status = await child.status;
    assertEquals(status.code, 0, "SIGTERM closes the server and the engine cleanly");
    const log = await stderr;
    assertStringIncludes(log, "SIGTERM: stopping");
    assert(!log.includes("legacy behavior"), "deno.json opts into no-legacy-abort");
  },
});
