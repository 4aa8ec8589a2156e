import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertLessOrEqual,
  assertThrows,
} from "@std/assert";
import { effectiveBits, type KvAllocation } from "../src/taqg/allocation.ts";
import { searchAllocation } from "../src/taqg/search.ts";
import { PHASES } from "../src/kv/types.ts";

const NOMINAL: Record<string, number> = { f16: 16, int8: 8, int4: 4, int3: 3, int2: 2 };
const DTYPES = Object.keys(NOMINAL);
const counts = { prompt: 20, think: 60, answer: 20 };
// layer 0 suffers from low think bits, layer 1 from low answer bits; error halves per bit
const SENSITIVITY = [{ prompt: 1, think: 8, answer: 1 }, { prompt: 1, think: 1, answer: 8 }];

function measure(allocation: KvAllocation): number[] {
  return SENSITIVITY.map((s, layer) =>
    PHASES.reduce((sum, p) => {
      const d = (allocation.perLayer?.[layer] ?? allocation.phases)[p];
      return sum + s[p] * (2 ** -NOMINAL[d.key] + 2 ** -NOMINAL[d.value]);
    }, 0)
  );
}

const base = {
  dtypes: DTYPES,
  counts,
  numLayers: 2,
  bitsPerElement: (d: string) => NOMINAL[d],
  measure,
  maxCandidates: 1000,
};

Deno.test("searchAllocation() finds the least-distortion allocation within the budget", () => {
  const result = searchAllocation({ ...base, budgetBits: 4 });
  assertLessOrEqual(result.bits, 4);
  // brute force over every per-phase choice with K = V
  let best = Infinity;
  for (const p of DTYPES) {
    for (const t of DTYPES) {
      for (const a of DTYPES) {
        const phases = {
          prompt: { key: p, value: p },
          think: { key: t, value: t },
          answer: { key: a, value: a },
        };
        if (effectiveBits({ phases }, counts, 2, base.bitsPerElement) > 4) continue;
        const d = measure({ phases });
        best = Math.min(best, (d[0] + d[1]) / 2);
      }
    }
  }
  assertAlmostEquals(result.distortion, best, 1e-15);
  assertEquals(result.allocation.perLayer, undefined);
  // only the frontier is measured: of 125 allocations, those no single upgrade keeps in budget
  assert(result.evaluated < 20, `${result.evaluated} measured`);
});

Deno.test("searchAllocation() keeps keys and values together unless splitKv", () => {
  const joint = searchAllocation({ ...base, budgetBits: 3.5 });
  for (const p of PHASES) {
    assertEquals(joint.allocation.phases[p].key, joint.allocation.phases[p].value);
  }
  const split = searchAllocation({ ...base, budgetBits: 3.5, splitKv: true });
  assertLessOrEqual(split.distortion, joint.distortion);
  assertLessOrEqual(split.bits, 3.5);
});

Deno.test("searchAllocation() per layer lets each layer protect its sensitive phase", () => {
  const perPhase = searchAllocation({ ...base, budgetBits: 4 });
  const perLayer = searchAllocation({ ...base, budgetBits: 4, perLayer: true });
  assertLessOrEqual(perLayer.bits, 4 + 1e-12);
  assert(
    perLayer.distortion < perPhase.distortion,
    `${perLayer.distortion} vs ${perPhase.distortion}`,
  );
  const [l0, l1] = perLayer.allocation.perLayer!;
  assert(NOMINAL[l0.think.key] >= NOMINAL[l1.think.key]);
  assert(NOMINAL[l1.answer.key] >= NOMINAL[l0.answer.key]);
});

Deno.test("searchAllocation() refuses a budget nothing fits", () => {
  assertThrows(() => searchAllocation({ ...base, budgetBits: 1.5 }), RangeError);
});
