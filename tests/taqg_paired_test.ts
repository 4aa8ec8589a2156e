import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { mcnemar, pairedDifference } from "../src/taqg/paired.ts";

Deno.test("mcnemar() is the exact two-sided binomial tail of the discordant counts", () => {
  assertEquals(mcnemar(0, 0), 1);
  assertAlmostEquals(mcnemar(0, 5), 2 / 32, 1e-12);
  assertAlmostEquals(mcnemar(1, 5), 2 * (1 + 6) / 64, 1e-12);
  assertEquals(mcnemar(3, 3), 1);
});

Deno.test("pairedDifference() counts discordant problems and brackets the difference", () => {
  const a = [true, true, true, false, true, true, false, true];
  const b = [true, false, false, false, true, true, true, true];
  const d = pairedDifference(a, b);
  assertEquals([d.n, d.onlyA, d.onlyB], [8, 2, 1]);
  assertAlmostEquals(d.diff, 1 / 8, 1e-12);
  // per-problem differences: two 1s, one −1, five 0s; sample variance / n
  const mean = 1 / 8;
  const variance = (2 * (1 - mean) ** 2 + (-1 - mean) ** 2 + 5 * mean ** 2) / 7 / 8;
  assertAlmostEquals(d.hi - d.diff, 1.96 * Math.sqrt(variance), 1e-12);
  assertEquals(pairedDifference([true], [true]).hi, 0);
  assertThrows(() => pairedDifference([true], [true, false]), RangeError);
});
