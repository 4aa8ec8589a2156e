import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { frontier, renderPareto } from "../src/taqg/pareto.ts";
import { frontierSentence } from "../src/taqg/report.ts";

const POINTS = [
  { name: "f16", kind: "f16", bytesPerToken: 1000, value: 0.94 },
  { name: "uniform int4", kind: "uniform", bytesPerToken: 500, value: 0.93 },
  { name: "prompt f16, think int4, answer int3", kind: "chosen", bytesPerToken: 480, value: 0.935 },
  { name: "random control", kind: "random control", bytesPerToken: 490, value: 0.90 },
  { name: "uniform int2", kind: "uniform", bytesPerToken: 300, value: 0.2 },
];

Deno.test("frontier() keeps exactly the points no other beats on both bytes and value", () => {
  assertEquals(frontier(POINTS, true).map((p) => p.name), [
    "uniform int2",
    "prompt f16, think int4, answer int3",
    "f16",
  ]);
  // lower is better (flip rates): the cheapest with the fewest flips
  const flips = POINTS.map((p) => ({ ...p, value: 1 - p.value }));
  assertEquals(frontier(flips, false).map((p) => p.name), [
    "uniform int2",
    "prompt f16, think int4, answer int3",
    "f16",
  ]);
});

Deno.test("renderPareto() draws every point, the frontier, and says whether a phase split is on it", () => {
  const panel = { title: "t", yLabel: "accuracy", higherIsBetter: true, points: POINTS };
  const svg = renderPareto([panel]);
  assertEquals(svg.match(/class="point"/g)?.length, POINTS.length);
  assertStringIncludes(svg, 'class="frontier"');
  assertStringIncludes(
    frontierSentence([panel], "m"),
    "a phase-aware configuration is on the test accuracy frontier",
  );
  const uniformOnly = { ...panel, points: POINTS.filter((p) => p.kind !== "chosen") };
  assert(frontierSentence([uniformOnly], "m").includes("no phase-aware configuration"));
});
