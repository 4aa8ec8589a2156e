/**
 * The serve configuration, from command-line flags (main.ts) or PHASEKV_* environment
 * variables (serve.ts), validated by one zod schema.
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { KV_DTYPE_AUTO, kvDtype, UnknownKvDtypeError } from "../kv/dtype.ts";
import { weightsDtypeSchema } from "../model/weights_dtype.ts";

/** Usage text of `deno task serve`. */
export const USAGE: string = `Usage: deno task serve [options]
  --model DIR                  model folder (default: models/phasekv-tiny-reasoner)
  --host H                     address to listen on (default 127.0.0.1)
  --port P                     port (default 8000)
  --api-key K                  bearer key for /v1/* (repeat for several)
  --served-model-name NAME     model name clients send (default: the folder name)
  --kv-cache-dtype D           base KV dtype: auto, f16, fp8, int8, int4, int3, int2
  --kv-cache-dtype-think D     KV dtype of the think phase
  --kv-cache-dtype-answer D    KV dtype of the answer phase
  --kv-cache-memory BYTES      KV byte budget, e.g. 512MiB or 2GB
  --weights-dtype D            matrices on the GPU: f16 (default), int8, int4 (quantized at load)
  --kv-profile auto|none       use the model's phasekv.profile.json (auto, the default) or not
  --block-size N               tokens per KV block (default 16)
  --kv-recent-tokens N         newest tokens kept f16: a block is quantized once N newer tokens
                               stand behind it (default: the profile's, else 32)
  --think-fraction F           share of max_tokens counted as think without markers (0.75)
  --max-num-seqs N             most sequences running at once
  --max-waiting N              answer 503 while N requests wait (default: no limit)
  -h, --help                   show this help`;

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
};

/** Bytes of a size such as 1048576, 64MiB or 2GB; null when `text` is not one. */
export function parseByteSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  return m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : null;
}

/** What a bad byte size is told (the flag's name goes before it). */
export const BYTE_SIZE_HINT = "try 512MiB or 2GB";

const byteSize = z.string().transform((text, ctx) => {
  const bytes = parseByteSize(text);
  if (bytes === null) {
    ctx.addIssue({ code: "custom", message: `not a byte size: ${text} (${BYTE_SIZE_HINT})` });
    return z.NEVER;
  }
  return bytes;
});

// checked here so that a typo stops the server before the model loads, not after
const kvDtypeName = z.string().min(1).superRefine((name, ctx) => {
  if (name.trim().toLowerCase() === KV_DTYPE_AUTO) return;
  try {
    kvDtype(name);
  } catch (err) {
    if (!(err instanceof UnknownKvDtypeError)) throw err;
    ctx.addIssue({ code: "custom", message: err.message });
  }
});

const serveFlagsSchema = z.object({
  model: z.string().min(1).optional(),
  host: z.string().min(1).default("127.0.0.1"),
  port: z.coerce.number().int().min(0).max(65535).default(8000),
  apiKey: z.array(z.string().min(1)).default([]),
  servedModelName: z.string().min(1).optional(),
  kvCacheDtype: kvDtypeName.default(KV_DTYPE_AUTO),
  kvCacheDtypeThink: kvDtypeName.optional(),
  kvCacheDtypeAnswer: kvDtypeName.optional(),
  kvCacheMemory: byteSize.optional(),
  kvProfile: z.enum(["auto", "none"]).default("auto"),
  weightsDtype: weightsDtypeSchema.optional(),
  blockSize: z.coerce.number().int().min(1).default(16),
  kvRecentTokens: z.coerce.number().int().min(0).optional(),
  thinkFraction: z.coerce.number().min(0).max(1).default(0.75),
  maxNumSeqs: z.coerce.number().int().min(1).optional(),
  maxWaiting: z.coerce.number().int().min(0).optional(),
});

/** The serve configuration, validated. */
export type ServeFlags = z.infer<typeof serveFlagsSchema>;

const FLAG_NAMES = {
  model: "model",
  host: "host",
  port: "port",
  "api-key": "apiKey",
  "served-model-name": "servedModelName",
  "kv-cache-dtype": "kvCacheDtype",
  "kv-cache-dtype-think": "kvCacheDtypeThink",
  "kv-cache-dtype-answer": "kvCacheDtypeAnswer",
  "kv-cache-memory": "kvCacheMemory",
  "kv-profile": "kvProfile",
  "weights-dtype": "weightsDtype",
  "block-size": "blockSize",
  "kv-recent-tokens": "kvRecentTokens",
  "think-fraction": "thinkFraction",
  "max-num-seqs": "maxNumSeqs",
  "max-waiting": "maxWaiting",
} as const;

/** Parses command-line flags; null when --help was asked; throws a TypeError naming the bad flag. */
export function parseServeArgs(args: readonly string[]): ServeFlags | null {
  const options = Object.fromEntries(
    Object.keys(FLAG_NAMES).map((flag) => [flag, { type: "string", multiple: flag === "api-key" }]),
  ) as Record<string, { type: "string"; multiple: boolean }>;
  const { values } = parseArgs({
    args: [...args],
    options: { ...options, help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help) return null;
  const given = values as Record<string, unknown>;
  const raw: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(FLAG_NAMES)) {
    if (given[flag] !== undefined) raw[key] = given[flag];
  }
  return validate(raw, (flag) => `--${flag}`);
}

/** Reads PHASEKV_MODEL, PHASEKV_API_KEY (comma-separated), PHASEKV_KV_CACHE_DTYPE and the rest. */
export function serveFlagsFromEnv(get: (name: string) => string | undefined): ServeFlags {
  const raw: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(FLAG_NAMES)) {
    const value = get(envName(flag));
    if (value === undefined || value === "") continue;
    raw[key] = key === "apiKey" ? value.split(",").map((k) => k.trim()).filter(Boolean) : value;
  }
  return validate(raw, envName);
}

/** The repository's tiny reasoning model, loaded when no --model is given. */
export const DEFAULT_MODEL_DIR: string = fileURLToPath(
  new URL("../../models/phasekv-tiny-reasoner/", import.meta.url),
);

/** The model folder to load: the --model flag, or the repository's tiny reasoner. */
export function modelDir(flags: ServeFlags): string {
  return flags.model ?? DEFAULT_MODEL_DIR;
}

function envName(flag: string): string {
  return `PHASEKV_${flag.toUpperCase().replaceAll("-", "_")}`;
}

// nameOf spells a flag (`kv-cache-dtype`) the way the user gave it: as a flag or a variable
function validate(raw: Record<string, unknown>, nameOf: (flag: string) => string): ServeFlags {
  const parsed = serveFlagsSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const flag = Object.entries(FLAG_NAMES).find(([, key]) => key === issue.path[0])?.[0] ?? "";
  throw new TypeError(`Invalid ${nameOf(flag)}: ${issue.message}`);
}
