import { assertEquals, assertThrows } from "@std/assert";
import { lowerDtype, taqgBitGap, taqgSplit } from "../src/taqg/taqg_bound.ts";

Deno.test("taqgBitGap() gives 1 for any positive Δρ, however small", () => {
  for (const d of [0.001, 0.01, 0.1, 0.3]) assertEquals(taqgBitGap(0.463 + d, 0.463), 1);
  assertEquals(taqgBitGap(0.544, 0.463), 1);
});

Deno.test("taqgBitGap() reaches 2 exactly when (1−ρ_L) ≥ 3(1−ρ_H)", () => {
  // 0.6 = 3 · 0.2: log2(3 + 1) = 2
  assertEquals(taqgBitGap(0.8, 0.4), 2);
  assertEquals(taqgBitGap(0.8, 0.41), 1);
  // (1−ρ_L)/(1−ρ_H) = 0.9/0.1 = 9: log2(10) → 3
  assertEquals(taqgBitGap(0.9, 0.1), 3);
});

Deno.test("taqgBitGap() is 0 at equal ρ and refuses a reversed pair", () => {
  assertEquals(taqgBitGap(0.5, 0.5), 0);
  assertEquals(taqgBitGap(1, 0.2), Infinity);
  assertThrows(() => taqgBitGap(0.3, 0.5), RangeError);
});

Deno.test("taqgSplit() lowers whichever phase is more redundant, in both directions", () => {
  assertEquals(taqgSplit({ prompt: 0.9, think: 0.7, answer: 0.4 }), {
    high: "think",
    low: "answer",
    gap: 1,
  });
  assertEquals(taqgSplit({ prompt: 0.9, think: 0.463, answer: 0.544 }), {
    high: "answer",
    low: "think",
    gap: 1,
  });
  assertEquals(taqgSplit({ prompt: 0.1, think: 0.5, answer: 0.5 }), null);
  assertThrows(() => taqgSplit({ prompt: 0, think: NaN, answer: 0.5 }), RangeError);
});

Deno.test("lowerDtype() steps down the ladder by the gap", () => {
  assertEquals(lowerDtype("int4", 1), "int3");
  assertEquals(lowerDtype("int4", 2), "int2");
  assertEquals(lowerDtype("int8", 1), "int4");
  assertEquals(lowerDtype("f16", 1), "int8");
  assertEquals(lowerDtype("int2", 1), "int2");
  assertEquals(lowerDtype("int4", Infinity), "int2");
  assertThrows(() => lowerDtype("fp8", 1), RangeError);
});
