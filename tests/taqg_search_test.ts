import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import type { Phase } from "../src/kv/types.ts";
import { candidates, type PhasePolicy, searchMeasured, searchOrder } from "../src/taqg/search.ts";
import type { Sensitivity } from "../src/taqg/sensitivity.ts";

const BITS: Record<string, number> = { f16: 16, int4: 4, int2: 2 };
const s = (flipRate: number, klP99 = flipRate): Sensitivity => ({
  flips: 0,
  positions: 1000,
  flipRate,
  seqFlipRate: 0,
  klMean: 0,
  klP99,
  klMax: 0,
});
// think int2 flips a lot, everything else is nearly free
const PER_PHASE: Record<string, Sensitivity> = {
  "prompt/int4": s(0),
  "prompt/int2": s(0.01),
  "think/int4": s(0.0001),
  "think/int2": s(0.05),
  "answer/int4": s(0),
  "answer/int2": s(0.0001),
};
const bytesOf = (d: PhasePolicy) => BITS[d.prompt] + 3 * BITS[d.think] + BITS[d.answer];
const pool = () =>
  candidates(
    ["f16", "int4", "int2"],
    (p: Phase, d: string) => (d === "f16" ? null : PER_PHASE[`${p}/${d}`]),
    bytesOf,
    bytesOf,
  );

Deno.test("candidates() covers every assignment and predicts flips from the phases alone", () => {
  const all = pool();
  assertEquals(all.length, 27);
  const c = all.find((x) =>
    x.dtypes.prompt === "int2" && x.dtypes.think === "int4" && x.dtypes.answer === "f16"
  )!;
  assertAlmostEquals(c.predictedFlipRate, 1 - 0.99 * 0.9999, 1e-12);
  assertEquals(
    all.find((x) =>
      x.dtypes.think === "f16" && x.dtypes.prompt === "f16" && x.dtypes.answer === "f16"
    )!.predictedFlipRate,
    0,
  );
});

Deno.test("searchOrder() under a floor: cheapest first among those predicted to pass", () => {
  const order = searchOrder(pool(), { kind: "floor", maxFlipRate: 0.0005 });
  assert(order.every((c) => c.predictedFlipRate <= 0.0005));
  assertEquals(order[0].dtypes, { prompt: "int4", think: "int4", answer: "int2" });
  for (let i = 1; i < order.length; i++) {
    assert(order[i].bytesPerToken >= order[i - 1].bytesPerToken);
  }
});

Deno.test("searchMeasured() keeps measuring until one passes; a budget takes the fewest flips", async () => {
  const order = searchOrder(pool(), { kind: "floor", maxFlipRate: 0.0005 });
  let calls = 0;
  // the cheapest fails when measured jointly: the search moves on to the next
  const { chosen, tried } = await searchMeasured(
    order,
    { kind: "floor", maxFlipRate: 0.0005 },
    (c) => {
      calls++;
      return Promise.resolve(s(c === order[0] ? 0.01 : 0.0002));
    },
  );
  assertEquals([calls, tried.length], [2, 2]);
  assertEquals(chosen!.dtypes, order[1].dtypes);
  const budget = { kind: "budget" as const, maxBytesPerToken: 20 };
  const inBudget = searchOrder(pool(), budget);
  assert(inBudget.every((c) => c.bytesPerToken <= 20));
  const best = await searchMeasured(
    inBudget,
    budget,
    (c) => Promise.resolve(s(c.predictedFlipRate)),
    3,
  );
  assertEquals(
    best.chosen!.measured.flipRate,
    Math.min(...best.tried.map((t) => t.measured.flipRate)),
  );
  const none = await searchMeasured(
    order,
    { kind: "floor", maxFlipRate: 0.0005 },
    () => Promise.resolve(s(1)),
    2,
  );
  assertEquals(none.chosen, null);
});
