/**
 * The configuration set calibration compares: uniform dtypes, the TAQG-aligned split (the more
 * redundant phase lowered), the anti-aligned split, the random-block control at the aligned
 * split's bits, and the paper's quantizer. The searched allocation joins them in calibrate.ts.
 * @module
 */
import type { Phase } from "../kv/types.ts";
import {
  DEFAULT_LADDER,
  type KvAllocation,
  type LadderStep,
  lowerDtype,
  taqgSplit,
  uniformAllocation,
} from "./allocation.ts";
import { allocationConfig, type KvConfig } from "./configs.ts";
import { paperConfig } from "./paper_baseline.ts";
import { randomBlockConfig } from "./random_control.ts";

/** Inputs to `buildConfigs`. */
export interface ConfigSetOptions {
  /** Mean ρ per phase over the calibration traces. */
  rho: Readonly<Record<Phase, number>>;
  /** The dtype every phase gets unless the bound lowers it, e.g. "int4". */
  base: string;
  /** Dtypes that get a uniform row; default the ladder. */
  uniform?: readonly string[];
  ladder?: readonly LadderStep[];
  /** Seed of the random-block control. */
  seed?: number;
}

/**
 * The comparison set. Without a ρ difference between think and answer (or without both phases)
 * the bound lowers nothing, so the split configurations and their random control are left out.
 */
export function buildConfigs(opts: ConfigSetOptions): KvConfig[] {
  const ladder = opts.ladder ?? DEFAULT_LADDER;
  const configs = (opts.uniform ?? ladder.map((s) => s.dtype)).map((d) =>
    allocationConfig(`uniform ${d}`, "uniform", uniformAllocation(d))
  );
  if (!Number.isFinite(opts.rho.think) || !Number.isFinite(opts.rho.answer)) return configs;
  const split = taqgSplit(opts.rho);
  if (split === null) return configs;
  const lowered = lowerDtype(opts.base, split.gap, ladder);
  const aligned = lowerPhase(opts.base, split.high, lowered);
  configs.push(
    allocationConfig(`TAQG-aligned (${split.high} ${lowered})`, "aligned", aligned),
    allocationConfig(
      `anti-aligned (${split.low} ${lowered})`,
      "anti-aligned",
      lowerPhase(opts.base, split.low, lowered),
    ),
    randomBlockConfig(opts.base, lowered, split.high, opts.seed ?? 0),
    paperConfig(aligned, ladder),
  );
  return configs;
}

function lowerPhase(base: string, phase: Phase, lowered: string): KvAllocation {
  const allocation = uniformAllocation(base);
  allocation.phases = { ...allocation.phases, [phase]: { key: lowered, value: lowered } };
  return allocation;
}
