import { assert, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { CacheBank, quantizeCache } from "../src/taqg/quantize_cache.ts";
import { syntheticTrace } from "../src/taqg/synthetic.ts";
import { countPhases, splitBlocks, validateTrace } from "../src/taqg/trace.ts";
import { oracleQuantize } from "./taqg_fixtures.ts";

const trace = syntheticTrace({
  numLayers: 2,
  numKvHeads: 2,
  numHeads: 4,
  headDim: 32,
  counts: { prompt: 5, think: 40, answer: 20 },
  rho: { prompt: 0.3, think: 0.6, answer: 0.4 },
  seed: 2,
});
const blocks = splitBlocks(trace.phases, 16);

Deno.test("splitBlocks() cuts at the block size and at every phase change", () => {
  assertEquals(blocks.map((b) => `${b.start}-${b.end} ${b.phase}`), [
    "0-5 prompt",
    "5-21 think",
    "21-37 think",
    "37-45 think",
    "45-61 answer",
    "61-65 answer",
  ]);
  assertEquals(countPhases([trace, trace]), { prompt: 10, think: 80, answer: 40 });
});

Deno.test("validateTrace() names the field whose shape is wrong", () => {
  validateTrace(trace);
  assertThrows(() => validateTrace({ ...trace, numHeads: 3 }), RangeError, "numHeads");
  assertThrows(
    () => validateTrace({ ...trace, phases: trace.phases.slice(1) }),
    RangeError,
    "phases",
  );
  assertThrows(
    () => validateTrace({ ...trace, values: [trace.values[0], new Float32Array(3)] }),
    RangeError,
    "values[1]",
  );
});

Deno.test("quantizeCache() touches only the blocks the plan quantizes", () => {
  const cache = quantizeCache(
    trace,
    blocks,
    (_, b) => (b.phase === "think" ? { key: "int4", value: "int2" } : { key: "f16", value: "f16" }),
    oracleQuantize,
  );
  const stride = 2 * 32;
  const slice = (
    a: Float32Array,
    from: number,
    to: number,
  ) => [...a.subarray(from * stride, to * stride)];
  assertEquals(slice(cache.keys[1], 0, 5), slice(trace.keys[1], 0, 5));
  assertEquals(slice(cache.values[0], 45, 65), slice(trace.values[0], 45, 65));
  assertNotEquals(slice(cache.keys[1], 5, 45), slice(trace.keys[1], 5, 45));
  // int4 keys stay within a 15th of each channel's range; int2 values are far coarser
  const err = (a: Float32Array, b: Float32Array) => {
    let e = 0;
    for (let i = 5 * stride; i < 45 * stride; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
    return e;
  };
  assert(err(cache.keys[0], trace.keys[0]) < err(cache.values[0], trace.values[0]));
});

Deno.test("CacheBank.assemble() equals quantizing the plan directly", () => {
  const plan = (layer: number, b: { index: number }) =>
    (layer + b.index) % 2 === 0 ? { key: "int3", value: "int8" } : { key: "fp8", value: "int4" };
  const bank = new CacheBank(trace, blocks, oracleQuantize);
  assertEquals(bank.assemble(plan), quantizeCache(trace, blocks, plan, oracleQuantize));
});
