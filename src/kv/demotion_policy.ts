/**
 * The demotion policy (`--kv-demotion`): under memory pressure, which phase's sealed blocks are
 * demoted first and to which floor dtype. "answer:int2,think:int3" demotes answer blocks to
 * int2 before it touches think blocks, which go no lower than int3; "none" turns demotion off.
 *
 * Default, from research/findings.md §2 (default model, 300 problems): with think at 3 bits the
 * answer phase at 2 bits costs nothing (94.0% both), while think at 2 bits loses a third of the
 * answers (59.3%); the prompt is left at its sealed dtype.
 * @module
 */
import { kvDtype } from "./dtype.ts";
import { type Phase, PHASES } from "./types.ts";

/** One entry of the order: demote `phase` blocks down to `dtype`. */
export interface DemotionStep {
  phase: Phase;
  /** Canonical registry name of the floor dtype. */
  dtype: string;
}

/** The flag's default. */
export const DEFAULT_KV_DEMOTION = "answer:int2,think:int3";

/** A --kv-demotion value that does not parse; names the bad part. */
export class DemotionPolicyError extends RangeError {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "DemotionPolicyError";
  }
}

/** Parses "phase:dtype,…" (or "none" / "" for no demotion) into the ordered steps. */
export function parseDemotionPolicy(text: string): DemotionStep[] {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === "none" || trimmed === "off" || trimmed === "") return [];
  const seen = new Set<Phase>();
  return trimmed.split(",").map((part) => {
    const [phase, dtype, extra] = part.split(":").map((s) => s.trim());
    if (extra !== undefined || !dtype || !PHASES.includes(phase as Phase)) {
      throw new DemotionPolicyError(
        `Bad --kv-demotion entry "${part}": expected phase:dtype with a phase of ${
          PHASES.join(", ")
        }`,
      );
    }
    if (seen.has(phase as Phase)) {
      throw new DemotionPolicyError(`--kv-demotion names the ${phase} phase twice`);
    }
    seen.add(phase as Phase);
    const d = kvDtype(dtype);
    if (d.kind === "f16") throw new DemotionPolicyError(`--kv-demotion floor cannot be f16`);
    return { phase: phase as Phase, dtype: d.name };
  });
}

/** The policy as the flag writes it. */
export function formatDemotionPolicy(steps: readonly DemotionStep[]): string {
  return steps.length === 0 ? "none" : steps.map((s) => `${s.phase}:${s.dtype}`).join(",");
}
