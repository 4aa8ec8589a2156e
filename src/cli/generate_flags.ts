/**
 * The flags of `deno task generate`, parsed and checked before any model is loaded, so that a
 * typo costs no loading time and the message names the flag at fault.
 * @module
 */
import { parseArgs } from "node:util";
import { KV_DTYPE_AUTO, kvDtype, UnknownKvDtypeError } from "../kv/dtype.ts";
import { type WeightsDtype, weightsDtypeSchema } from "../model/weights_dtype.ts";
import { BYTE_SIZE_HINT, DEFAULT_MODEL_DIR, parseByteSize } from "../server/flags.ts";

/** Usage text of `deno task generate`. */
export const GENERATE_USAGE: string =
  `Usage: deno task generate [--model DIR] (--prompt TEXT | --prompt-ids 1,2,3) [options]
  --model DIR                  model folder (default: models/phasekv-tiny-reasoner)
  --prompt TEXT                prompt text (tokenized by the model's tokenizer)
  --prompt-ids IDS             prompt token ids, comma-separated
  --chat                       render --prompt as a user message with the chat template
  --max-tokens N               tokens to generate at most (default 64)
  --temperature T              0 is greedy (default 0)
  --top-p P  --top-k K  --min-p P  --seed S    sampling filters and seed
  --kv-cache-dtype D           base KV dtype: auto, f16, fp8, int8, int4, int3, int2
  --kv-cache-dtype-think D     KV dtype of the think phase
  --kv-cache-dtype-answer D    KV dtype of the answer phase
  --think-fraction F           share of max tokens counted as think without markers (0.75)
  --block-size N               tokens per KV block (default 16)
  --kv-recent-tokens N         newest tokens kept f16: a block is quantized once N newer tokens
                               stand behind it (default: the profile's, else 32)
  --kv-cache-memory BYTES      KV byte budget, e.g. 64MiB or 1GiB (default 256MiB)
  --max-think-tokens N         close the think block after N think tokens
  --weights-dtype D            matrices on the GPU: f16 (default), int8, int4 (quantized at load)
  --kv-profile auto|none       use the model's phasekv.profile.json (auto, the default) or not
  --json                       print one JSON object (ids, text, KV usage) as the last line
  -h, --help                   show this help`;

/** A flag with a bad value, or a bad combination of flags. */
export class GenerateFlagError extends TypeError {
  /** Creates the error; `flag` is the flag at fault, spelled as on the command line. */
  constructor(readonly flag: string, detail: string) {
    super(`${flag}: ${detail}`);
    this.name = "GenerateFlagError";
  }
}

/** The generate command's settings. */
export interface GenerateFlags {
  model: string;
  /** Exactly one of prompt and promptIds is set. */
  prompt?: string;
  promptIds?: number[];
  chat: boolean;
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  seed: number;
  kvCacheDtype: string;
  kvCacheDtypeThink?: string;
  kvCacheDtypeAnswer?: string;
  thinkFraction?: number;
  blockSize: number;
  /** Full-precision recent window in tokens (default: the profile's, else the engine's). */
  kvRecentTokens?: number;
  kvCacheMemory?: number;
  maxThinkTokens?: number;
  /** Whether the model's calibration profile may override the KV dtype flags. */
  kvProfile: "auto" | "none";
  /** How the matrices are stored on the GPU. */
  weightsDtype?: WeightsDtype;
  json: boolean;
}

const STRING_FLAGS = [
  "model",
  "prompt",
  "prompt-ids",
  "max-tokens",
  "temperature",
  "top-p",
  "top-k",
  "min-p",
  "seed",
  "kv-cache-dtype",
  "kv-cache-dtype-think",
  "kv-cache-dtype-answer",
  "think-fraction",
  "block-size",
  "kv-recent-tokens",
  "kv-cache-memory",
  "max-think-tokens",
  "kv-profile",
  "weights-dtype",
] as const;

type Values = Partial<Record<(typeof STRING_FLAGS)[number], string>>;

/** Parses the command line; null when --help was asked. Throws GenerateFlagError. */
export function parseGenerateArgs(args: readonly string[]): GenerateFlags | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: "string" as const }])),
        chat: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    // node:util quotes the unknown or malformed option in its message
    const message = (error as Error).message;
    throw new GenerateFlagError(/'(--?[\w-]+)/.exec(message)?.[1] ?? "arguments", message);
  }
  const v = parsed.values as Values & { chat?: boolean; json?: boolean; help?: boolean };
  if (v.help) return null;
  if ((v.prompt === undefined) === (v["prompt-ids"] === undefined)) {
    throw new GenerateFlagError("--prompt", "give exactly one of --prompt and --prompt-ids");
  }
  return {
    model: v.model ?? DEFAULT_MODEL_DIR,
    prompt: v.prompt,
    promptIds: v["prompt-ids"] === undefined ? undefined : tokenIds(v["prompt-ids"]),
    chat: v.chat ?? false,
    maxTokens: integer(v, "max-tokens", 1) ?? 64,
    temperature: number(v, "temperature", 0, Infinity) ?? 0,
    topP: number(v, "top-p", Number.MIN_VALUE, 1) ?? 1,
    topK: integer(v, "top-k", 0) ?? 0,
    minP: number(v, "min-p", 0, 1) ?? 0,
    seed: integer(v, "seed", 0) ?? 0,
    kvCacheDtype: dtype(v, "kv-cache-dtype") ?? KV_DTYPE_AUTO,
    kvCacheDtypeThink: dtype(v, "kv-cache-dtype-think"),
    kvCacheDtypeAnswer: dtype(v, "kv-cache-dtype-answer"),
    thinkFraction: number(v, "think-fraction", 0, 1),
    blockSize: integer(v, "block-size", 1) ?? 16,
    kvRecentTokens: integer(v, "kv-recent-tokens", 0),
    kvCacheMemory: byteSize(v, "kv-cache-memory"),
    maxThinkTokens: integer(v, "max-think-tokens", 0),
    kvProfile: kvProfile(v["kv-profile"]),
    weightsDtype: weightsDtype(v["weights-dtype"]),
    json: v.json ?? false,
  };
}

function weightsDtype(value: string | undefined): WeightsDtype | undefined {
  if (value === undefined) return undefined;
  const parsed = weightsDtypeSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new GenerateFlagError("--weights-dtype", `expected f16, int8 or int4, got ${value}`);
}

function kvProfile(value: string | undefined): "auto" | "none" {
  if (value === undefined || value === "auto" || value === "none") return value ?? "auto";
  throw new GenerateFlagError("--kv-profile", `expected auto or none, got ${value}`);
}

function tokenIds(text: string): number[] {
  const ids = text.split(",").map((s) => Number(s.trim()));
  if (ids.length === 0 || !ids.every((id) => Number.isInteger(id) && id >= 0)) {
    throw new GenerateFlagError("--prompt-ids", `expects comma-separated token ids, got "${text}"`);
  }
  return ids;
}

function number(v: Values, flag: keyof Values, min: number, max: number): number | undefined {
  const text = v[flag];
  if (text === undefined) return undefined;
  const n = text.trim() === "" ? NaN : Number(text);
  if (!(n >= min && n <= max)) {
    const range = max === Infinity ? `at least ${min}` : `in [${min}, ${max}]`;
    throw new GenerateFlagError(`--${flag}`, `expects a number ${range}, got "${text}"`);
  }
  return n;
}

function integer(v: Values, flag: keyof Values, min: number): number | undefined {
  const text = v[flag];
  if (text === undefined) return undefined;
  const n = text.trim() === "" ? NaN : Number(text);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new GenerateFlagError(
      `--${flag}`,
      `expects an integer of at least ${min}, got "${text}"`,
    );
  }
  return n;
}

function dtype(v: Values, flag: keyof Values): string | undefined {
  const name = v[flag];
  if (name === undefined || name.trim().toLowerCase() === KV_DTYPE_AUTO) return name;
  try {
    return kvDtype(name).name;
  } catch (error) {
    if (error instanceof UnknownKvDtypeError) {
      throw new GenerateFlagError(`--${flag}`, error.message);
    }
    throw error;
  }
}

function byteSize(v: Values, flag: keyof Values): number | undefined {
  const text = v[flag];
  if (text === undefined) return undefined;
  const bytes = parseByteSize(text);
  if (bytes === null || bytes <= 0) {
    throw new GenerateFlagError(`--${flag}`, `not a byte size: "${text}" (${BYTE_SIZE_HINT})`);
  }
  return bytes;
}
