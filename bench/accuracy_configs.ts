/**
 * The KV configurations the accuracy bench compares, by name: a dtype name stores every phase
 * in it (`int4`), `phase=dtype` pairs joined by `+` set some phases and leave the rest at the
 * base f16 (`think=int4+answer=int8`), and `calibrated` uses the model's phasekv.profile.json.
 * Any of them may end in `+think_after=DTYPE`: think blocks are demoted to DTYPE when the answer
 * begins (`int4+think_after=int2`, `calibrated+think_after=int2`).
 * @module
 */
import { kvDtype } from "../src/kv/dtype.ts";
import { type Phase, PHASES } from "../src/kv/types.ts";

/** Name of the configuration that takes its dtypes from the model's calibration profile. */
export const CALIBRATED = "calibrated";

/** The dtype of phases a configuration leaves unnamed (the engine's default base dtype). */
export const BASE_DTYPE = "f16";

/** What `deno task bench:accuracy` runs without --configs. */
export const DEFAULT_CONFIGS: readonly string[] = [
  "f16",
  "int8",
  "int4",
  "k4v3",
  "int3",
  "int2",
  "think=int4+answer=int8",
  "think=int8+answer=int4",
  "think=int3+answer=int4",
  "think=int4+answer=int3",
  "fp8",
  CALIBRATED,
];

/** One configuration: its name and canonical dtype per phase (null: the profile decides). */
export interface KvConfig {
  name: string;
  dtypes: Record<Phase, string> | null;
  /** Dtype think blocks are demoted to when the answer begins (unset: kept). */
  thinkAfterAnswer?: string;
}

const THINK_AFTER = "think_after";

/** The engine options that store each phase as `dtypes` says (prompt is the base dtype). */
export interface EngineKvOptions {
  kvCacheDtype: string;
  kvCacheDtypeThink: string;
  kvCacheDtypeAnswer: string;
}

/** Parses one configuration name; throws RangeError (or UnknownKvDtypeError) naming the fault. */
export function parseConfig(name: string): KvConfig {
  const parts = name.trim().split("+");
  const after = parts.filter((p) => p.trim().startsWith(`${THINK_AFTER}=`));
  if (after.length === 0) return parsePhases(name);
  if (after.length > 1 || parts.length === 1) {
    throw new RangeError(`Bad KV config "${name.trim()}": one ${THINK_AFTER}= after the dtypes`);
  }
  const base = parsePhases(parts.filter((p) => !after.includes(p)).join("+"));
  const dtype = kvDtype(after[0].trim().slice(THINK_AFTER.length + 1).trim()).name;
  return { name: name.trim(), dtypes: base.dtypes, thinkAfterAnswer: dtype };
}

function parsePhases(name: string): KvConfig {
  const trimmed = name.trim();
  if (trimmed === CALIBRATED) return { name: trimmed, dtypes: null };
  if (!trimmed.includes("=")) {
    const dtype = kvDtype(trimmed).name;
    return { name: trimmed, dtypes: { prompt: dtype, think: dtype, answer: dtype } };
  }
  const dtypes: Record<Phase, string> = {
    prompt: BASE_DTYPE,
    think: BASE_DTYPE,
    answer: BASE_DTYPE,
  };
  const named = new Set<string>();
  for (const pair of trimmed.split("+")) {
    const [phase, dtype, ...rest] = pair.split("=").map((s) => s.trim());
    if (!PHASES.includes(phase as Phase) || dtype === undefined || rest.length > 0) {
      throw new RangeError(
        `Bad KV config "${trimmed}": "${pair}" is not phase=dtype with phase one of ${
          PHASES.join(", ")
        }`,
      );
    }
    if (named.has(phase)) throw new RangeError(`Bad KV config "${trimmed}": ${phase} named twice`);
    named.add(phase);
    dtypes[phase as Phase] = kvDtype(dtype).name;
  }
  return { name: trimmed, dtypes };
}

/** Parses a comma list of configuration names (empty entries ignored, duplicates rejected). */
export function parseConfigList(list: string): KvConfig[] {
  const configs = list.split(",").filter((s) => s.trim() !== "").map(parseConfig);
  if (configs.length === 0) throw new RangeError("--configs names no configuration");
  const seen = new Set<string>();
  for (const c of configs) {
    if (seen.has(c.name)) throw new RangeError(`--configs names ${c.name} twice`);
    seen.add(c.name);
  }
  return configs;
}

/** Engine options for a configuration with explicit dtypes. */
export function engineKvOptions(dtypes: Record<Phase, string>): EngineKvOptions {
  return {
    kvCacheDtype: dtypes.prompt,
    kvCacheDtypeThink: dtypes.think,
    kvCacheDtypeAnswer: dtypes.answer,
  };
}
