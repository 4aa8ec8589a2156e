import { assert, assertAlmostEquals, assertEquals, assertLessOrEqual } from "@std/assert";
import { buildConfigs } from "../src/taqg/config_set.ts";
import type { ConfigContext } from "../src/taqg/configs.ts";
import { pickBlocks } from "../src/taqg/random_control.ts";
import { CacheBank } from "../src/taqg/quantize_cache.ts";
import { syntheticTrace } from "../src/taqg/synthetic.ts";
import { splitBlocks } from "../src/taqg/trace.ts";
import { fixtureCodec, oracleQuantize } from "./taqg_fixtures.ts";

const codec = fixtureCodec(2, 32);

function context(seed: number): ConfigContext {
  const trace = syntheticTrace({
    numLayers: 2,
    numKvHeads: 2,
    numHeads: 4,
    headDim: 32,
    counts: { prompt: 21, think: 150, answer: 45 },
    rho: { prompt: 0.3, think: 0.7, answer: 0.4 },
    seed,
  });
  const blocks = splitBlocks(trace.phases, 16);
  return { trace, blocks, traceIndex: seed, bank: new CacheBank(trace, blocks, oracleQuantize) };
}

Deno.test("buildConfigs() lowers the more redundant phase, whichever it is", () => {
  const thinkHigh = buildConfigs({ rho: { prompt: 0.2, think: 0.6, answer: 0.4 }, base: "int4" });
  const aligned = thinkHigh.find((c) => c.kind === "aligned")!;
  const anti = thinkHigh.find((c) => c.kind === "anti-aligned")!;
  assertEquals(aligned.allocation!.phases.think, { key: "int3", value: "int3" });
  assertEquals(aligned.allocation!.phases.answer, { key: "int4", value: "int4" });
  assertEquals(anti.allocation!.phases.answer, { key: "int3", value: "int3" });
  assertEquals(anti.allocation!.phases.think, { key: "int4", value: "int4" });

  const answerHigh = buildConfigs({
    rho: { prompt: 0.2, think: 0.463, answer: 0.544 },
    base: "int4",
  });
  const flipped = answerHigh.find((c) => c.kind === "aligned")!;
  assertEquals(flipped.allocation!.phases.answer, { key: "int3", value: "int3" });
  assertEquals(flipped.allocation!.phases.think, { key: "int4", value: "int4" });
  assertEquals(flipped.allocation!.phases.prompt, { key: "int4", value: "int4" });
});

Deno.test("buildConfigs() has the uniform rows, the controls and the paper baseline", () => {
  const configs = buildConfigs({ rho: { prompt: 0.2, think: 0.6, answer: 0.4 }, base: "int4" });
  assertEquals(configs.map((c) => c.kind), [
    "uniform",
    "uniform",
    "uniform",
    "uniform",
    "uniform",
    "aligned",
    "anti-aligned",
    "random-blocks",
    "paper",
  ]);
  const equal = buildConfigs({ rho: { prompt: 0.2, think: 0.5, answer: 0.5 }, base: "int4" });
  assert(equal.every((c) => c.kind === "uniform"));
});

Deno.test("random-block control stores the aligned split's bits within 0.01 per element", () => {
  const configs = buildConfigs({
    rho: { prompt: 0.3, think: 0.7, answer: 0.4 },
    base: "int4",
    seed: 7,
  });
  const aligned = configs.find((c) => c.kind === "aligned")!;
  const random = configs.find((c) => c.kind === "random-blocks")!;
  const uniform4 = configs.find((c) => c.name === "uniform int4")!;
  for (const seed of [1, 2, 3]) {
    const ctx = context(seed);
    const a = aligned.apply(ctx, codec).bits;
    const r = random.apply(ctx, codec).bits;
    assertAlmostEquals(r, a, 0.01, `seed ${seed}: random ${r} vs aligned ${a}`);
    assert(a < uniform4.apply(ctx, codec).bits);
  }
});

Deno.test("pickBlocks() draws from every phase, reproducibly, within the target", () => {
  const { blocks } = context(1);
  const chosen = pickBlocks(blocks, 150, 7);
  const tokens = [...chosen].reduce((n, i) => n + blocks[i].end - blocks[i].start, 0);
  assertLessOrEqual(tokens, 150);
  assertEquals(tokens, 150);
  assertEquals(new Set([...chosen].map((i) => blocks[i].phase)).size, 3);
  assertEquals(pickBlocks(blocks, 150, 7), chosen);
});

Deno.test("the paper baseline counts its unquantized values as 16 bits", () => {
  const configs = buildConfigs({ rho: { prompt: 0.3, think: 0.7, answer: 0.4 }, base: "int4" });
  const paper = configs.find((c) => c.kind === "paper")!;
  const ctx = context(1);
  // keys: (21·4 + 150·3 + 45·4) / 216 bits; values 16
  assertAlmostEquals(
    paper.apply(ctx, codec).bits,
    ((21 * 4 + 150 * 3 + 45 * 4) / 216 + 16) / 2,
    1e-12,
  );
});
