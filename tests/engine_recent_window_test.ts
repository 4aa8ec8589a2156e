/**
 * The recent window in the engine on the default model: with R covering the whole sequence no
 * block is ever quantized, so int4 everywhere gives f16's greedy tokens exactly; with the default
 * R the usage counts the window's f16 blocks, and preemption under a tight budget leaks nothing.
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import { DEFAULT_RECENT_TOKENS } from "../src/kv/block_table.ts";
import { createEngine, type EngineOptions } from "../src/engine/engine.ts";
import type { EngineApi, GenerateOutput } from "../src/engine/types.ts";

const MODEL = new URL("../models/phasekv-tiny-reasoner", import.meta.url).pathname;
const hasGpu = await (async () => {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
})();

const QUESTIONS = [
  "What is 347+1286?",
  "What is 9120-455?",
  "What is 58+77?",
  "What is 4001-3999?",
];
const INT4 = { kvCacheDtype: "int4", kvCacheDtypeThink: "int4", kvCacheDtypeAnswer: "int4" };

/** Answers `questions` at once on an engine built with `opts`; `check` sees the engine after. */
async function run(
  opts: Omit<EngineOptions, "model">,
  questions: readonly string[] = QUESTIONS,
  check?: (engine: EngineApi) => void,
): Promise<GenerateOutput[][]> {
  const engine: EngineApi = await createEngine({
    model: MODEL,
    inProcess: true,
    kvProfile: "none",
    maxNumSeqs: 4,
    maxNumBatchedTokens: 256,
    ...opts,
  });
  try {
    const one = async (q: string) => {
      const promptIds = engine.encode(engine.applyChatTemplate([{ role: "user", content: q }]));
      const outputs: GenerateOutput[] = [];
      for await (const o of engine.generate({ promptIds, maxTokens: 60 })) outputs.push(o);
      return outputs;
    };
    const outputs = await Promise.all(questions.map(one));
    check?.(engine);
    return outputs;
  } finally {
    await engine.close();
  }
}

const ids = (outputs: GenerateOutput[][]) => outputs.map((o) => o.flatMap((x) => x.tokenIds));

Deno.test({
  name: "engine: int4 with a window covering the whole sequence equals f16 token for token",
  ignore: !hasGpu,
  fn: async () => {
    const f16 = await run({ kvCacheDtype: "f16" });
    const windowed = await run({ ...INT4, kvRecentTokens: 512 });
    assertEquals(ids(windowed), ids(f16));
    // nothing was quantized: every block held is f16
    for (const o of windowed) {
      for (const phase of Object.values(o.at(-1)!.usage!.kv.phases)) {
        assertEquals(Object.keys(phase.dtypes).filter((d) => d !== "f16"), []);
      }
    }
  },
});

Deno.test({
  name: "engine: the default window keeps the newest blocks f16 and counts them in usage",
  ignore: !hasGpu,
  fn: async () => {
    const none = await run({ ...INT4, kvRecentTokens: 0 });
    const windowed = await run({ ...INT4 });
    for (let i = 0; i < QUESTIONS.length; i++) {
      const a = none[i].at(-1)!.usage!.kv;
      const b = windowed[i].at(-1)!.usage!.kv;
      // the window holds f16 blocks that R = 0 would have sealed, and pays for them
      const f16Blocks = (kv: typeof a) =>
        Object.values(kv.phases).reduce((n, p) => n + (p.dtypes["f16"] ?? 0), 0);
      assertGreater(f16Blocks(b), f16Blocks(a));
      assertGreater(b.bytesPerToken, a.bytesPerToken);
      const tokens = Object.values(b.phases).reduce((n, p) => n + p.tokens, 0);
      const bytes = Object.values(b.phases).reduce((n, p) => n + p.bytes, 0);
      assert(Math.abs(b.bytesPerToken - bytes / tokens) < 1e-9);
      assert(DEFAULT_RECENT_TOKENS > 0);
    }
  },
});

Deno.test({
  name: "engine: a windowed int4 cache under a tight budget preempts and leaks no KV",
  ignore: !hasGpu,
  fn: async () => {
    const tight = {
      ...INT4,
      kvRecentTokens: 32,
      // 10 f16 blocks of 16 KiB (4 layers): about two sequences with their windows at once
      kvCacheMemory: 160 * 1024,
      // the prefix cache keeps unreferenced prompt blocks on purpose: kvUsage would not be 0
      enablePrefixCaching: false,
    };
    const outputs = await run(tight, [...QUESTIONS, ...QUESTIONS], (engine) => {
      const stats = engine.stats();
      assertGreater(stats.numPreemptions, 0);
      assertEquals(stats.kvUsage, 0);
    });
    for (const o of outputs) assert(o.at(-1)!.finishReason !== "error");
  },
});
