/**
 * A profile's `block_size` sets the engine's tokens per KV block unless `--block-size` is given
 * (a user's flag beats a file), and the engine serves with the size it reports.
 */
import { assertEquals } from "@std/assert";
import { createEngine, type EngineOptions } from "../src/engine/engine.ts";
import type { GenerateOutput } from "../src/engine/types.ts";
import { hasGpu } from "./helpers/has_gpu.ts";

const MODEL = new URL("../models/phasekv-tiny-reasoner", import.meta.url).pathname;

async function served(opts: Omit<EngineOptions, "model">) {
  const engine = await createEngine({ model: MODEL, inProcess: true, ...opts });
  try {
    const promptIds = engine.encode(
      engine.applyChatTemplate([{ role: "user", content: "What is 12+34?" }]),
    );
    const out: GenerateOutput[] = [];
    for await (const o of engine.generate({ promptIds, maxTokens: 40 })) out.push(o);
    const s = engine.describe!();
    return { blockSize: s.blockSize, source: s.blockSource, tokens: out.length };
  } finally {
    await engine.close();
  }
}

Deno.test({
  name: "the profile's block_size is served unless --block-size is given",
  ignore: !hasGpu,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/profile.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ version: 1, phases: { think: "int4" }, recent_tokens: 8, block_size: 8 }),
    );
    const fromProfile = await served({ kvProfile: path });
    assertEquals([fromProfile.blockSize, fromProfile.source], [8, "profile"]);
    const fromFlag = await served({ kvProfile: path, blockSize: 4 });
    assertEquals([fromFlag.blockSize, fromFlag.source], [4, "--block-size"]);
    const plain = await served({ kvProfile: "none" });
    assertEquals([plain.blockSize, plain.source], [16, "default"]);
    assertEquals(fromProfile.tokens > 0 && fromFlag.tokens > 0, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
