/**
 * The user's dtype flags beat the profile the default model ships, on the real engine: what
 * `deno task serve --kv-cache-dtype f16` stores, and what the policy says about where each
 * phase's dtype came from.
 */
import { assert, assertEquals } from "@std/assert";
import type { EngineApi, GenerateOutput } from "../src/engine/types.ts";
import { loadProfile } from "../src/kv/profile.ts";
import { startEngine } from "../src/server/engine_factory.ts";
import { DEFAULT_MODEL_DIR, parseServeArgs } from "../src/server/flags.ts";

const hasGpu = await (async () => {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
})();

async function withServeEngine(args: string[], fn: (engine: EngineApi) => Promise<void> | void) {
  const engine = await startEngine(parseServeArgs(args)!, {
    inProcess: true,
    onProgress: () => {},
  });
  try {
    await fn(engine);
  } finally {
    await engine.close();
  }
}

async function storedDtypes(engine: EngineApi): Promise<Record<string, Record<string, number>>> {
  const prompt = engine.encode(
    engine.applyChatTemplate([{ role: "user", content: "What is 347+1286?" }]),
  );
  const outputs: GenerateOutput[] = [];
  for await (const o of engine.generate({ promptIds: prompt, maxTokens: 96 })) outputs.push(o);
  const phases = outputs.at(-1)!.usage!.kv.phases;
  return Object.fromEntries(Object.entries(phases).map(([p, u]) => [p, u.dtypes]));
}

Deno.test({
  name:
    "serve --kv-cache-dtype f16 stores every phase f16 although the default model ships a profile",
  ignore: !hasGpu,
  fn: async () => {
    const profile = await loadProfile(DEFAULT_MODEL_DIR);
    assert(profile !== null, "the default model ships a profile");
    assert(Object.values(profile.phases).some((d) => d !== "f16"), "one that quantizes a phase");
    await withServeEngine(["--kv-cache-dtype", "f16"], async (engine) => {
      for (const setting of Object.values(engine.kvPolicy)) {
        assertEquals(setting, { dtype: "f16", source: "flag" });
      }
      const stored = await storedDtypes(engine);
      for (const [phase, dtypes] of Object.entries(stored)) {
        assertEquals(
          Object.keys(dtypes).filter((d) => d !== "f16"),
          [],
          `${phase}: ${JSON.stringify(dtypes)}`,
        );
      }
      assert((stored.think.f16 ?? 0) > 0, "think blocks were stored");
    });
    // no flags: the profile decides, and says so
    await withServeEngine([], (engine) => {
      assertEquals(engine.kvPolicy.think, { dtype: profile.phases.think!, source: "profile" });
    });
    await withServeEngine(["--kv-profile", "none"], (engine) => {
      assertEquals(engine.kvPolicy.think, { dtype: "f16", source: "default" });
    });
  },
});
