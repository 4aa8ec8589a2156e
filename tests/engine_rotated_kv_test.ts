/**
 * The engine on the default model (head_dim 32, so its runner keeps K and V rotated) with the
 * per-vector dtypes in every phase: it answers fresh problems (numbers not in heldout.jsonl),
 * seals every phase to its dtype, and batching changes nothing.
 */
import { assert, assertEquals } from "@std/assert";
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

// fresh problems: none of these is in heldout.jsonl (checked below)
const PROBLEMS = [[5171, 2382], [640, 97], [3108, 4459], [81, 7026]];

async function answers(engine: EngineApi): Promise<{ text: string; out: GenerateOutput[] }[]> {
  return await Promise.all(PROBLEMS.map(async ([a, b]) => {
    const text = engine.applyChatTemplate([{ role: "user", content: `What is ${a}+${b}?` }]);
    const promptIds = engine.encode(text);
    const out: GenerateOutput[] = [];
    for await (const o of engine.generate({ promptIds, maxTokens: 96 })) out.push(o);
    return { text: out.map((o) => o.text).join(""), out };
  }));
}

async function withEngine<T>(opts: Omit<EngineOptions, "model">, fn: (e: EngineApi) => Promise<T>) {
  const engine = await createEngine({ model: MODEL, inProcess: true, kvProfile: "none", ...opts });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

Deno.test({
  name: "default model with int3 prompt, int4 think, int2 answer (rotated per-vector codecs)",
  ignore: !hasGpu,
  fn: async () => {
    const heldout = await Deno.readTextFile(`${MODEL}/heldout.jsonl`);
    for (const [a, b] of PROBLEMS) assert(!heldout.includes(`What is ${a}+${b}?`));
    const kv = { kvCacheDtype: "int3", kvCacheDtypeThink: "int4", kvCacheDtypeAnswer: "int2" };
    const alone = await withEngine({ ...kv, maxNumSeqs: 1 }, answers);
    const batched = await withEngine({ ...kv, maxNumSeqs: 4 }, answers);
    assertEquals(batched.map((r) => r.text), alone.map((r) => r.text));
    // 2-bit answers and 3-bit prompts cost some accuracy (reports/bench/kv.md): most, not all
    const right = alone.filter((r, i) => {
      const [a, b] = PROBLEMS[i];
      return r.text.endsWith(`${a} + ${b} = ${a + b}`);
    });
    assert(right.length >= 3, `${right.length}/4 right: ${alone.map((r) => r.text).join(" | ")}`);
    for (const r of alone) {
      const phases = r.out.at(-1)!.usage!.kv.phases;
      // every block is sealed at the phase change or when full; only the open block stays f16
      assert(phases.think.dtypes.int4 > 0, "think blocks sealed to int4");
      assert(Object.keys(phases.think.dtypes).every((d) => d === "int4" || d === "f16"));
      assert(phases.prompt.dtypes.int3 > 0, "prompt blocks sealed to int3");
    }
  },
});
