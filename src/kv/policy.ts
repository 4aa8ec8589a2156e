/**
 * Phase policy: the dtype each phase's sealed blocks are stored in, and where it came from.
 * Sources, later overriding earlier: the built-in default (f16), the calibration profile beside
 * the model, the dtype flags the user gave (or `EngineConfig`), the request's own fields. What
 * the user typed always beats a file.
 * @module
 */
import { KV_DTYPE_AUTO, kvDtype } from "./dtype.ts";
import type { KvProfile } from "./profile.ts";
import { type Phase, PHASES } from "./types.ts";

/** Dtype names per phase from one source (names or aliases; `auto` = not set by it). */
export type PhaseDtypes = Partial<Record<Phase, string>>;

/**
 * The user's dtype flags: `base` (--kv-cache-dtype) sets every phase the per-phase flags leave
 * unset; `auto` or absent means the flag was not given.
 */
export interface EnginePhaseDtypes extends PhaseDtypes {
  /** The base dtype flag; absent or `auto` leaves each phase to the profile or the default. */
  base?: string;
}

/** The dtype every phase gets when no source sets it. */
export const AUTO_BASE_DTYPE = "f16";

/** Where a phase's dtype came from, lowest precedence first. */
export type DtypeSource = "default" | "profile" | "flag" | "request";

/** One phase's dtype (canonical registry name) and its source. */
export interface PhaseSetting {
  /** Canonical registry name. */
  dtype: string;
  /** Which source decided it. */
  source: DtypeSource;
}

/** Every phase's dtype and source. */
export type KvPolicy = Record<Phase, PhaseSetting>;

/**
 * Each phase's dtype and source. Unknown names throw UnknownKvDtypeError listing the valid
 * ones; `auto` at any level means "this source does not set it".
 */
export function resolveKvPolicy(
  flags: EnginePhaseDtypes = {},
  profile?: KvProfile | null,
  request?: PhaseDtypes,
): KvPolicy {
  const out = {} as KvPolicy;
  for (const phase of PHASES) {
    const steps: [DtypeSource, string | undefined][] = [
      ["request", request?.[phase]],
      ["flag", flags[phase]],
      ["flag", flags.base],
      ["profile", profile?.phases[phase]],
    ];
    // every name given is checked, even one a higher source shadows
    for (const [, name] of steps) if (name !== undefined && !isAuto(name)) kvDtype(name);
    const hit = steps.find(([, name]) => name !== undefined && !isAuto(name));
    out[phase] = hit
      ? { dtype: kvDtype(hit[1]!).name, source: hit[0] }
      : { dtype: AUTO_BASE_DTYPE, source: "default" };
  }
  return out;
}

/** The canonical dtype per phase of `resolveKvPolicy`. */
export function resolvePhasePolicy(
  flags: EnginePhaseDtypes = {},
  profile?: KvProfile | null,
  request?: PhaseDtypes,
): Record<Phase, string> {
  return dtypesOf(resolveKvPolicy(flags, profile, request));
}

/** The dtype per phase of a policy. */
export function dtypesOf(policy: KvPolicy): Record<Phase, string> {
  const out = {} as Record<Phase, string>;
  for (const phase of PHASES) out[phase] = policy[phase].dtype;
  return out;
}

/** One line for a startup log: `prompt int4 (profile), think f16 (flag), …`. */
export function describeKvPolicy(policy: KvPolicy): string {
  return PHASES.map((p) => `${p} ${policy[p].dtype} (${policy[p].source})`).join(", ");
}

/** The canonical name of a dtype name or alias, with `auto` meaning `base`. */
export function canonical(name: string, base: string): string {
  return isAuto(name) ? base : kvDtype(name).name;
}

function isAuto(name: string): boolean {
  return name.trim().toLowerCase() === KV_DTYPE_AUTO;
}
