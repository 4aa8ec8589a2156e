/**
 * The calibration profile (`phasekv.profile.json`) as calibration writes it: the fields the
 * server reads (`KvProfileSchema` in src/kv/profile.ts: version and a dtype per phase) plus the
 * model, an optional per-layer policy and the measurements that chose it.
 * @module
 */
import { z } from "zod";
import { kvDtype } from "../kv/dtype.ts";
import { type Phase, PHASES } from "../kv/types.ts";
import type { PhaseDtypes } from "./allocation.ts";
import type { ConfigRow } from "./evaluate.ts";
import type { RedundancySummary } from "./redundancy.ts";
import type { Spread } from "./stats.ts";

/** A spread as JSON holds it: an empty sample's figures are null, JSON having no NaN. */
export interface ProfileSpread {
  mean: number | null;
  std: number | null;
  p95: number | null;
  count: number;
}

/** What calibration measured for the chosen configuration. */
export interface ProfileMeasurements {
  traces: number;
  rho: Record<Phase, ProfileSpread>;
  config: string;
  bitsPerElement: number;
  bytesPerToken: number;
  attentionKl: ProfileSpread;
  outputError: ProfileSpread;
  nextTokenKl: ProfileSpread | null;
}

/** A profile as calibration writes it. */
export interface Profile {
  version: 1;
  model: string;
  phases: Record<Phase, string>;
  perLayer?: Record<Phase, string>[];
  measured?: ProfileMeasurements;
}

const dtypeName = z.string().refine((name) => {
  try {
    return kvDtype(name) !== undefined;
  } catch {
    return false;
  }
}, { message: "Unknown KV cache dtype" });
const phaseDtypes = z.strictObject({ prompt: dtypeName, think: dtypeName, answer: dtypeName });
const figure = z.number().nullable();
const spread = z.object({ mean: figure, std: figure, p95: figure, count: z.number().int() });

/** The full schema of a profile calibration writes; every such file also passes the server's. */
export const CalibrationProfileSchema: z.ZodType<Profile> = z.object({
  version: z.literal(1),
  model: z.string().min(1),
  phases: phaseDtypes,
  perLayer: z.array(phaseDtypes).optional(),
  measured: z.object({
    traces: z.number().int().nonnegative(),
    rho: z.object({ prompt: spread, think: spread, answer: spread }),
    config: z.string(),
    bitsPerElement: z.number(),
    bytesPerToken: z.number(),
    attentionKl: spread,
    outputError: spread,
    nextTokenKl: spread.nullable(),
  }).optional(),
});

/** Validates a parsed JSON value as a calibration profile; throws a zod error naming the field. */
export function parseCalibrationProfile(json: unknown): Profile {
  return CalibrationProfileSchema.parse(json);
}

/**
 * The profile serving `row`'s allocation. Throws a RangeError for a control (no allocation) or
 * for keys and values in different dtypes, which a block cannot store.
 */
export function profileFromRow(
  model: string,
  row: ConfigRow,
  redundancy: RedundancySummary,
  traces: number,
): Profile {
  const allocation = row.allocation;
  if (allocation === null) throw new RangeError(`Configuration ${row.name} is not a phase policy`);
  const profile: Profile = {
    version: 1,
    model,
    phases: phaseNames(allocation.phases),
    measured: {
      traces,
      rho: {
        prompt: jsonSpread(redundancy.byPhase.prompt),
        think: jsonSpread(redundancy.byPhase.think),
        answer: jsonSpread(redundancy.byPhase.answer),
      },
      config: row.name,
      bitsPerElement: row.bitsPerElement,
      bytesPerToken: row.bytesPerToken,
      attentionKl: jsonSpread(row.attentionKl),
      outputError: jsonSpread(row.outputError),
      nextTokenKl: row.nextTokenKl && jsonSpread(row.nextTokenKl),
    },
  };
  if (allocation.perLayer) profile.perLayer = allocation.perLayer.map(phaseNames);
  return profile;
}

function jsonSpread(s: Spread): ProfileSpread {
  const f = (x: number) => (Number.isFinite(x) ? x : null);
  return { mean: f(s.mean), std: f(s.std), p95: f(s.p95), count: s.count };
}

function phaseNames(phases: PhaseDtypes): Record<Phase, string> {
  const out = {} as Record<Phase, string>;
  for (const p of PHASES) {
    const { key, value } = phases[p];
    if (key !== value) {
      throw new RangeError(
        `Phase ${p} has keys in ${key} and values in ${value}; a block holds one dtype`,
      );
    }
    out[p] = key;
  }
  return out;
}
