/**
 * Presence and frequency penalties on the real GPU engine and the tiny stories260k checkpoint,
 * where a WebGPU adapter (a software one will do) and the checkpoint are present.
 */
import { assert, assertEquals, assertGreater, assertNotEquals } from "@std/assert";
import { createEngine, type EngineOptions } from "../src/engine/engine.ts";
import type { EngineApi, GenerateRequest } from "../src/engine/types.ts";

const MODEL = new URL("../../shared/models/stories260k", import.meta.url).pathname;
const hasModel = await Deno.stat(`${MODEL}/model.safetensors`).then(() => true, () => false);
const hasGpu = hasModel && await (async () => {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
})();

const PROMPTS = ["Once upon a time", "The cat", "Lily wanted to play with her friend"];
const MAX_TOKENS = 24;

async function generateAll(
  engine: EngineApi,
  penalties: Pick<GenerateRequest, "presencePenalty" | "frequencyPenalty">,
): Promise<number[][]> {
  const one = async (prompt: string) => {
    const request = { promptIds: engine.encode(prompt), maxTokens: MAX_TOKENS, ...penalties };
    const ids: number[] = [];
    for await (const o of engine.generate(request)) ids.push(...o.tokenIds);
    return ids;
  };
  return await Promise.all(PROMPTS.map(one));
}

async function withEngine<T>(opts: Omit<EngineOptions, "model">, fn: (e: EngineApi) => Promise<T>) {
  const engine = await createEngine({
    model: MODEL,
    inProcess: true,
    maxNumBatchedTokens: 64,
    ...opts,
  });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

Deno.test({
  name:
    "Penalties on stories260k: greedy never repeats under a huge frequency penalty, batched and preempted alike",
  ignore: !hasGpu,
  fn: async () => {
    const plain = await withEngine({ maxNumSeqs: 1 }, (e) => generateAll(e, {}));
    // tiny-model logits span far less than 1000, so every used token falls below every unused one
    const strong = { frequencyPenalty: 1000 };
    const alone = await withEngine({ maxNumSeqs: 1 }, (e) => generateAll(e, strong));
    alone.forEach((ids, i) => {
      assertEquals(ids.length, MAX_TOKENS);
      assertEquals(new Set(ids).size, ids.length, `prompt ${i} repeated a token: ${ids}`);
    });
    // greedy alone does repeat itself within 24 tokens, so the penalty did the work
    assert(plain.some((ids) => new Set(ids).size < ids.length));
    assertNotEquals(alone, plain);
    // counts are rebuilt on the GPU after preemption (recompute) and survive pipelining
    const squeezed = await withEngine(
      { maxNumSeqs: 3, kvCacheMemory: 40 * 1024, pipelineDepth: 3 },
      async (engine) => {
        const out = await generateAll(engine, strong);
        assertGreater(engine.stats().numPreemptions, 0);
        return out;
      },
    );
    assertEquals(squeezed, alone);
    // a mild penalty on one sequence leaves a batch-mate's greedy tokens exactly as they were
    const mixed = await withEngine({ maxNumSeqs: 3 }, async (engine) => {
      const mild = { promptIds: engine.encode(PROMPTS[0]), maxTokens: MAX_TOKENS };
      const [penalised, untouched] = await Promise.all(
        [{ ...mild, presencePenalty: 1.5, frequencyPenalty: 0.5 }, {
          ...mild,
          promptIds: engine.encode(PROMPTS[1]),
        }].map(async (r) => {
          const ids: number[] = [];
          for await (const o of engine.generate(r)) ids.push(...o.tokenIds);
          return ids;
        }),
      );
      assertEquals(penalised.length, MAX_TOKENS);
      return untouched;
    });
    assertEquals(mixed, plain[1]);
  },
});
