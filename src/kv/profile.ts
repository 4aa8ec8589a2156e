/**
 * The calibration profile shipped beside a model (`phasekv.profile.json`): the KV dtype of each
 * phase that calibration chose. Written by the calibrate tool, read by the server at startup.
 * @module
 */
import { z } from "zod";
import { DEFAULT_BLOCK_SIZE, DEFAULT_RECENT_TOKENS } from "./block_table.ts";
import { kvDtype, UnknownKvDtypeError } from "./dtype.ts";
import { DEFAULT_KV_DEMOTION, parseDemotionPolicy } from "./demotion_policy.ts";

/** File name of the profile inside a model directory. */
export const PROFILE_FILE = "phasekv.profile.json";

const dtypeName = z.string().min(1);

/** Schema of the profile file; fields beyond these (reports, measurements) are kept. */
export const KvProfileSchema: z.ZodType<KvProfile> = z.looseObject({
  version: z.literal(1),
  phases: z.strictObject({
    prompt: dtypeName.optional(),
    think: dtypeName.optional(),
    answer: dtypeName.optional(),
  }),
  recent_tokens: z.number().int().min(0).optional(),
  block_size: z.number().int().min(1).optional(),
  demotion: z.string().optional(),
});

/** A calibration profile. */
export interface KvProfile {
  /** Format version. */
  version: 1;
  /** Dtype name (or alias, or `auto`) per phase; absent phases keep the engine's choice. */
  phases: { prompt?: string; think?: string; answer?: string };
  /** The full-precision recent window calibration measured the dtypes with, in tokens. */
  recent_tokens?: number;
  /** Tokens per KV block calibration measured with; the engine uses it unless told otherwise. */
  block_size?: number;
  /** The demotion order and floors measured on this model (`--kv-demotion`'s syntax). */
  demotion?: string;
  /** Whatever else calibration recorded (measurements, provenance). */
  [key: string]: unknown;
}

/** A profile file that is not valid JSON, does not match the schema, or names an unknown dtype. */
export class KvProfileError extends Error {
  /** Creates the error naming the file and what is wrong with it. */
  constructor(readonly path: string, detail: string) {
    super(`Invalid KV profile ${path}: ${detail}`);
    this.name = "KvProfileError";
  }
}

/** Parses and checks a profile's text; `path` names it in errors. */
export function parseProfile(text: string, path: string): KvProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new KvProfileError(path, (e as Error).message);
  }
  const parsed = KvProfileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KvProfileError(path, `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  if (parsed.data.demotion !== undefined) {
    try {
      parseDemotionPolicy(parsed.data.demotion);
    } catch (e) {
      if (e instanceof RangeError) throw new KvProfileError(path, `demotion: ${e.message}`);
      throw e;
    }
  }
  for (const [phase, name] of Object.entries(parsed.data.phases)) {
    if (name === undefined || name.toLowerCase() === "auto") continue;
    try {
      kvDtype(name);
    } catch (e) {
      if (e instanceof UnknownKvDtypeError) {
        throw new KvProfileError(path, `phases.${phase}: ${e.message}`);
      }
      throw e;
    }
  }
  return parsed.data;
}

/** The profile in `modelDir`, or null when the model ships none. */
export async function loadProfile(modelDir: string | URL): Promise<KvProfile | null> {
  const dir = typeof modelDir === "string" ? modelDir.replace(/\/*$/, "/") : modelDir;
  const url = typeof dir === "string" ? dir + PROFILE_FILE : new URL(PROFILE_FILE, dir);
  let text: string;
  try {
    text = await Deno.readTextFile(url);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  return parseProfile(text, String(url));
}

/**
 * The profile a `--kv-profile` setting names: `auto` the model's own (null when it ships none),
 * `none` null, anything else a file that must exist.
 */
export async function loadProfileSetting(
  modelDir: string | URL,
  setting: string = "auto",
): Promise<KvProfile | null> {
  if (setting === "auto") return await loadProfile(modelDir);
  if (setting === "none") return null;
  let text: string;
  try {
    text = await Deno.readTextFile(setting);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new KvProfileError(setting, "no such file");
    throw e;
  }
  return parseProfile(text, setting);
}

/** The recent window in force: the user's setting, else the profile's, else the default. */
export function recentTokens(setting: number | undefined, profile?: KvProfile | null): number {
  return setting ?? profile?.recent_tokens ?? DEFAULT_RECENT_TOKENS;
}

/** Tokens per KV block in force: the user's setting, else the profile's, else the default. */
export function blockSize(setting: number | undefined, profile?: KvProfile | null): number {
  return setting ?? profile?.block_size ?? DEFAULT_BLOCK_SIZE;
}

/** The demotion policy in force: the user's `--kv-demotion`, else the profile's, else the default. */
export function demotionSetting(setting: string | undefined, profile?: KvProfile | null): string {
  return setting ?? profile?.demotion ?? DEFAULT_KV_DEMOTION;
}
