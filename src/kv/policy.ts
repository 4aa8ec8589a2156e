/**
 * Phase policy: the dtype each phase's sealed blocks are stored in. Sources, later overriding
 * earlier: the engine's flags, the calibration profile beside the model, the request.
 * @module
 */
import { KV_DTYPE_AUTO, kvDtype } from "./dtype.ts";
import type { KvProfile } from "./profile.ts";
import { type Phase, PHASES } from "./types.ts";

/** Dtype names per phase from one source (names or aliases; `auto` = the base). */
export type PhaseDtypes = Partial<Record<Phase, string>>;

/** The engine's flags: --kv-cache-dtype (base) and the per-phase ones. */
export interface EnginePhaseDtypes extends PhaseDtypes {
  /** The base dtype; `auto` means f16 (the runtime's compute dtype). */
  base: string;
}

/** What `auto` resolves to when the base itself is `auto`. */
export const AUTO_BASE_DTYPE = "f16";

/**
 * Canonical dtype names per phase. Later sources win; `auto` at any level means the base;
 * unknown names throw UnknownKvDtypeError listing the valid ones.
 */
export function resolvePhasePolicy(
  engine: EnginePhaseDtypes,
  profile?: KvProfile | null,
  request?: PhaseDtypes,
): Record<Phase, string> {
  const base = canonical(engine.base, AUTO_BASE_DTYPE);
  const out = {} as Record<Phase, string>;
  for (const phase of PHASES) {
    const name = request?.[phase] ?? profile?.phases[phase] ?? engine[phase] ?? KV_DTYPE_AUTO;
    out[phase] = canonical(name, base);
  }
  return out;
}

/** The canonical name of a dtype name or alias, with `auto` meaning `base`. */
export function canonical(name: string, base: string): string {
  return name.trim().toLowerCase() === KV_DTYPE_AUTO ? base : kvDtype(name).name;
}
