import { assertEquals } from "@std/assert";
import { chooseDemotion } from "../src/taqg/demotion_floor.ts";
import type { Sensitivity } from "../src/taqg/sensitivity.ts";

const s = (flips: number): Sensitivity => ({
  flips,
  positions: 1000,
  flipRate: flips / 1000,
  seqFlipRate: 0,
  klMean: 0,
  klP99: 0,
  klMax: 0,
});

Deno.test("chooseDemotion() takes each measured phase to its narrowest dtype under the floor", () => {
  const flips: Record<string, number> = {
    "prompt/int3": 0,
    "prompt/int2": 5,
    "think/k4v3": 1,
    "think/int3": 3,
    "answer/int3": 0,
    "answer/int2": 0,
  };
  const perPhase = (p: string, d: string) =>
    flips[`${p}/${d}`] === undefined ? undefined : s(flips[`${p}/${d}`]);
  const chosen = { prompt: "int4", think: "int4", answer: "int4" };
  const ladder = ["int4", "k4v3", "int3", "int2"];
  const sealed = { prompt: 10, think: 40, answer: 3 };
  // think flips at every narrower dtype: never demoted; answer reaches int2, prompt int3
  assertEquals(chooseDemotion(chosen, ladder, perPhase, sealed, 0.0005), "answer:int2,prompt:int3");
  // a looser floor admits think's k4v3 (it flips more than the others, so it goes last)
  assertEquals(
    chooseDemotion(chosen, ladder, perPhase, sealed, 0.001),
    "answer:int2,prompt:int3,think:k4v3",
  );
  // an unmeasured phase (no sealed block) and an f16 phase are never demoted
  assertEquals(
    chooseDemotion(
      { ...chosen, prompt: "f16" },
      ladder,
      perPhase,
      { ...sealed, answer: 0 },
      0.0005,
    ),
    "none",
  );
});
