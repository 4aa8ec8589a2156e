import { assert, assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import type { ConfigKind } from "../src/taqg/configs.ts";
import type { ConfigRow } from "../src/taqg/evaluate.ts";
import { servedVerdict, uniformAt } from "../src/taqg/verdict.ts";

function row(name: string, kind: ConfigKind, bits: number, kl: number, tokenKl: number | null) {
  const spread = (mean: number) => ({ mean, std: 0, p95: mean, count: 4 });
  return {
    name,
    kind,
    allocation: null,
    bitsPerElement: bits,
    bytesPerToken: bits * 10,
    attentionKl: spread(kl),
    outputError: spread(kl),
    nextTokenKl: tokenKl === null ? null : spread(tokenKl),
    perLayerKl: [kl],
  } satisfies ConfigRow;
}

const UNIFORM = [
  row("uniform int4", "uniform", 5, 0.01, 0.002),
  row("uniform int3", "uniform", 4, 0.03, 0.006),
];

Deno.test("uniformAt interpolates the uniform rows linearly in bits, NaN outside them", () => {
  const kl = (r: ConfigRow) => r.attentionKl.mean;
  assertAlmostEquals(uniformAt(UNIFORM, 4.75, kl), 0.015, 1e-12);
  assertAlmostEquals(uniformAt(UNIFORM, 5, kl), 0.01, 1e-12);
  assert(Number.isNaN(uniformAt(UNIFORM, 5.5, kl)));
});

Deno.test("servedVerdict: a split below the frontier on every metric is not worse", () => {
  const rows = [
    ...UNIFORM,
    row("aligned", "aligned", 4.75, 0.012, 0.003),
    row("random blocks", "random-blocks", 4.76, 0.02, 0.004),
  ];
  const v = servedVerdict(rows, "aligned");
  assert(v.notWorseThanUniform);
  assertEquals(v.lines.map((l) => l.control), [0.02, 0.004]);
  assertStringIncludes(v.markdown, "not worse than uniform");
  assertStringIncludes(v.markdown, "random-block control (4.760 bits/elem)");
});

Deno.test("servedVerdict: one metric above the frontier makes the profile worse", () => {
  const rows = [...UNIFORM, row("aligned", "aligned", 4.75, 0.012, 0.0031)];
  const v = servedVerdict(rows, "aligned");
  // next-token frontier at 4.75 bits: 0.002 + 0.25 × 0.004 = 0.003 < 0.0031
  assertEquals(v.notWorseThanUniform, false);
  assertStringIncludes(v.markdown, "WORSE than uniform");
});
