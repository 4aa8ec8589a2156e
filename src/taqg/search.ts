/**
 * Search for the allocation with the least measured distortion within a bit budget: every
 * dtype (or key and value dtype pair) per phase is a candidate; optionally each layer then picks its own
 * candidate, traded against the budget by a Lagrange multiplier.
 * @module
 */
import { type Phase, PHASES } from "../kv/types.ts";
import {
  type BitsPerElement,
  effectiveBits,
  type KvAllocation,
  type KvKind,
  type PhaseDtypes,
} from "./allocation.ts";

/** Inputs to `searchAllocation`. */
export interface SearchOptions {
  /** Dtypes each key or value slot may take. */
  dtypes: readonly string[];
  /** Most stored bits per element allowed (scales included). */
  budgetBits: number;
  /** Tokens per phase over the calibration set; weights each phase's bits. */
  counts: Readonly<Record<Phase, number>>;
  numLayers: number;
  bitsPerElement: BitsPerElement;
  /** Distortion of an allocation, one value per layer (lower is better). */
  measure(allocation: KvAllocation): number[];
  /**
   * Let keys and values take different dtypes; default false, because a runtime block holds
   * K and V in one dtype.
   */
  splitKv?: boolean;
  /** Also let each layer choose its own candidate; default false. */
  perLayer?: boolean;
  /** Most frontier candidates measured, those nearest the budget first; default 48. */
  maxCandidates?: number;
}

/** The chosen allocation with its bits and measured distortion. */
export interface SearchResult {
  allocation: KvAllocation;
  bits: number;
  /** Mean over layers of the measured per-layer distortion. */
  distortion: number;
  /** Candidates measured. */
  evaluated: number;
}

interface Candidate {
  phases: PhaseDtypes;
  bits: number;
  perLayer: number[];
}

/**
 * Searches allocations within `budgetBits`; throws a RangeError when none fits. Assuming more
 * bits never add distortion, only the frontier is measured: allocations within budget that no
 * single upgrade keeps within it, and, for the per-layer search, which trades bits between
 * layers, allocations over budget that any single downgrade brings within it.
 */
export function searchAllocation(opts: SearchOptions): SearchResult {
  const bitsOf = (phases: PhaseDtypes) =>
    effectiveBits({ phases }, opts.counts, opts.numLayers, opts.bitsPerElement);
  const fits = (phases: PhaseDtypes) => bitsOf(phases) <= opts.budgetBits + 1e-9;
  // a phase with no tokens costs nothing whatever its dtype; one choice for it suffices
  const active = PHASES.filter((p) => opts.counts[p] > 0);
  const splitKv = opts.splitKv ?? false;
  const step = stepper(opts.dtypes, opts.bitsPerElement, active, splitKv);
  const all = enumerate(active, opts.dtypes, splitKv);
  const below = all.filter((c) => fits(c) && step(c, +1).every((n) => !fits(n)));
  if (below.length === 0) {
    throw new RangeError(
      `No allocation of ${opts.dtypes.join(", ")} fits ${opts.budgetBits} bits per element`,
    );
  }
  const above = opts.perLayer
    ? all.filter((c) => {
      const down = step(c, -1);
      return !fits(c) && down.length > 0 && down.every(fits);
    })
    : [];
  const near = (c: PhaseDtypes) => Math.abs(bitsOf(c) - opts.budgetBits);
  const limit = opts.maxCandidates ?? 48;
  const chosen = [...below.sort((a, b) => near(a) - near(b)).slice(0, limit)];
  chosen.push(...above.sort((a, b) => near(a) - near(b)).slice(0, limit - chosen.length));
  const measured: Candidate[] = chosen.map((phases) => ({
    phases,
    bits: bitsOf(phases),
    perLayer: opts.measure({ phases }),
  }));
  const best = measured.filter((c) => fits(c.phases))
    .reduce((a, c) => (mean(c.perLayer) < mean(a.perLayer) ? c : a));
  const result = {
    allocation: { phases: best.phases },
    bits: best.bits,
    distortion: mean(best.perLayer),
  };
  if (opts.perLayer && opts.numLayers > 1) {
    const layered = perLayerChoice(measured, opts.numLayers, opts.budgetBits);
    if (layered.distortion < result.distortion) return { ...layered, evaluated: measured.length };
  }
  return { ...result, evaluated: measured.length };
}

/**
 * The neighbours of an allocation one slot (a phase's dtype, or its key or value dtype when
 * split) one dtype up (+1) or down (−1) in stored bits.
 */
function stepper(
  dtypes: readonly string[],
  bitsPerElement: BitsPerElement,
  active: readonly Phase[],
  splitKv: boolean,
): (phases: PhaseDtypes, direction: 1 | -1) => PhaseDtypes[] {
  const order = (kind: KvKind) =>
    [...dtypes].sort((a, b) => bitsPerElement(a, kind) - bitsPerElement(b, kind));
  const ladder = { key: order("key"), value: order("value") };
  const next = (dtype: string, kind: KvKind, direction: 1 | -1) =>
    ladder[kind][ladder[kind].indexOf(dtype) + direction];
  const slots: KvKind[][] = splitKv ? [["key"], ["value"]] : [["key", "value"]];
  return (phases, direction) =>
    active.flatMap((p) =>
      slots.flatMap((kinds) => {
        const moved = { ...phases[p] };
        for (const kind of kinds) {
          const to = next(phases[p][kind], kind, direction);
          if (to === undefined) return [];
          moved[kind] = to;
        }
        return [{ ...phases, [p]: moved }];
      })
    );
}

function enumerate(
  active: readonly Phase[],
  dtypes: readonly string[],
  splitKv: boolean,
): PhaseDtypes[] {
  const pairs = splitKv
    ? dtypes.flatMap((key) => dtypes.map((value) => ({ key, value })))
    : dtypes.map((d) => ({ key: d, value: d }));
  let partial: Partial<PhaseDtypes>[] = [{}];
  for (const phase of PHASES) {
    const choices = active.includes(phase) ? pairs : pairs.slice(0, 1);
    partial = partial.flatMap((p) => choices.map((c) => ({ ...p, [phase]: c })));
  }
  return partial as PhaseDtypes[];
}

/**
 * Each layer takes the candidate minimising distortion + λ·bits; λ is bisected to the smallest
 * value that keeps the mean bits within budget (layers store equal element counts).
 */
function perLayerChoice(
  measured: readonly Candidate[],
  numLayers: number,
  budgetBits: number,
): Omit<SearchResult, "evaluated"> {
  const choose = (lambda: number) =>
    Array.from(
      { length: numLayers },
      (_, layer) =>
        measured.reduce((a, c) =>
          c.perLayer[layer] + lambda * c.bits < a.perLayer[layer] + lambda * a.bits ? c : a
        ),
    );
  const bitsOf = (picks: Candidate[]) => mean(picks.map((c) => c.bits));
  let lo = 0;
  let hi = 1;
  while (bitsOf(choose(hi)) > budgetBits && hi < 1e12) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (bitsOf(choose(mid)) > budgetBits) lo = mid;
    else hi = mid;
  }
  const picks = choose(hi);
  return {
    allocation: { phases: picks[0].phases, perLayer: picks.map((c) => c.phases) },
    bits: bitsOf(picks),
    distortion: mean(picks.map((c, layer) => c.perLayer[layer])),
  };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
