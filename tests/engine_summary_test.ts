import { assertEquals } from "@std/assert";
import { buildSummary, type SummaryInput } from "../src/engine/summary.ts";
import type { EngineApi } from "../src/engine/types.ts";
import { startupSummary } from "../src/server/startup_summary.ts";
import { resolveKvPolicy } from "../src/kv/policy.ts";
import { blockSize } from "../src/kv/profile.ts";

// blocks of 16 tokens, one layer: f16 1024 bytes, int4 256 bytes
const INPUT: SummaryInput = {
  modelId: "m",
  vocabSize: 100,
  about: null,
  maxModelLen: 160,
  blockSize: 16,
  maxNumSeqs: 4,
  kvBudgetBytes: 64 * 1024,
  numLayers: 1,
  blockBytes: (dtype) => dtype === "f16" ? 1024 : 256,
  policy: resolveKvPolicy({ base: "int4" }),
  profile: null,
};

Deno.test("buildSummary counts the recent window's f16 blocks in the concurrency it reports", () => {
  // R = 32: 3 f16 blocks (two of window, one open) and 7 int4 blocks per 160-token sequence
  const s = buildSummary({ ...INPUT, kvRecentTokens: 32 });
  assertEquals([s.recentTokens, s.recentSource], [32, "--kv-recent-tokens"]);
  assertEquals(s.maxConcurrency, Math.floor(65536 / (3 * 1024 + 7 * 256)));
  // no window: only the open block stays f16
  assertEquals(
    buildSummary({ ...INPUT, kvRecentTokens: 0 }).maxConcurrency,
    Math.floor(65536 / (1024 + 9 * 256)),
  );
  // the profile's window when the user set none
  const fromProfile = buildSummary({
    ...INPUT,
    profile: { version: 1, phases: {}, recent_tokens: 16 },
  });
  assertEquals([fromProfile.recentTokens, fromProfile.recentSource], [16, "profile"]);
  assertEquals(buildSummary(INPUT).recentSource, "default");
});

Deno.test("blockSize() and the summary: --block-size beats the profile's block_size, else 16", () => {
  const profile = { version: 1 as const, phases: {}, block_size: 8 };
  assertEquals([blockSize(undefined, profile), blockSize(32, profile), blockSize(undefined)], [
    8,
    32,
    16,
  ]);
  assertEquals(buildSummary({ ...INPUT, profile }).blockSource, "profile");
  assertEquals(buildSummary({ ...INPUT, profile, kvBlockSize: 32 }).blockSource, "--block-size");
  assertEquals(buildSummary(INPUT).blockSource, "default");
  // the demotion policy: the flag, else the profile's, else the default
  const demoting = { ...profile, demotion: "answer:int2" };
  assertEquals(
    [buildSummary({ ...INPUT, profile: demoting }).demotion, buildSummary(INPUT).demotionSource],
    ["answer:int2", "default"],
  );
  assertEquals(
    buildSummary({ ...INPUT, profile: demoting, kvDemotion: "none" }).demotionSource,
    "--kv-demotion",
  );
});

Deno.test("buildSummary reports each phase's source from the policy: a flag beats the profile", () => {
  const profile = { version: 1 as const, phases: { think: "int3" } };
  const s = buildSummary({ ...INPUT, profile, policy: resolveKvPolicy({ base: "int4" }, profile) });
  assertEquals(s.phases.think.dtype, "int4");
  assertEquals(s.phases.think.source, "flag");
  const p = buildSummary({ ...INPUT, profile, policy: resolveKvPolicy({}, profile) });
  assertEquals([p.phases.think.source, p.phases.prompt.source], ["profile", "default"]);
});

Deno.test("The startup summary says how admission reserves KV: --admission-headroom, else as vLLM", () => {
  const engine = (admissionHeadroom?: number) =>
    ({
      describe: () => buildSummary({ ...INPUT, admissionHeadroom }),
    }) as unknown as EngineApi;
  const line = (lines: string[]) => lines.find((l) => l.startsWith("admission"));
  assertEquals(
    line(startupSummary(engine())),
    "admission: while a request's first chunk fits; preempts when KV runs out",
  );
  assertEquals(
    line(startupSummary(engine(1))),
    "admission keeps 1 of each running request's KV growth to max_tokens free (--admission-headroom)",
  );
});
