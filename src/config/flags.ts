/**
 * Every engine option as one flag entry (zod schema and help line), shared by `deno task serve`,
 * the `PHASEKV_*` variables of `deno serve`, `generate`, `calibrate` and the benches. A new
 * engine option is one entry in ENGINE_FLAGS and one field of EngineConfig with the same name.
 * @module
 */
import { weightsDtypeSchema } from "../model/weights_dtype.ts";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { EngineConfig } from "../engine/create_core.ts";
import { DEFAULT_RECENT_TOKENS } from "../kv/block_table.ts";
import { parseDemotionPolicy } from "../kv/demotion_policy.ts";
import { KV_DTYPE_AUTO, kvDtype, UnknownKvDtypeError } from "../kv/dtype.ts";
import { flag, type FlagValues } from "./flag_parser.ts";

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

/** The repository's tiny reasoning model, loaded when no --model is given. */
export const DEFAULT_MODEL_DIR: string = fileURLToPath(
  new URL("../../models/phasekv-tiny-reasoner/", import.meta.url),
);

/** A non-empty string. */
export const text: z.ZodType<string> = z.string().min(1, "expects a value");

/** An integer in [min, max] from its text. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): z.ZodType<number> {
  return z.string().transform((s, ctx) => {
    const n = s.trim() === "" ? NaN : Number(s);
    if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `in [${min}, ${max}]`;
    ctx.addIssue({ code: "custom", message: `expects an integer ${range}, got "${s}"` });
    return z.NEVER;
  });
}

/** A number in [min, max] from its text. */
export function number(min: number, max = Infinity): z.ZodType<number> {
  return z.string().transform((s, ctx) => {
    const n = s.trim() === "" ? NaN : Number(s);
    if (n >= min && n <= max) return n;
    const range = max === Infinity ? `at least ${min}` : `in [${min}, ${max}]`;
    ctx.addIssue({ code: "custom", message: `expects a number ${range}, got "${s}"` });
    return z.NEVER;
  });
}

/** Bytes from a size such as 512MiB. */
export const byteSize: z.ZodType<number> = z.string().transform((s, ctx) => {
  const bytes = parseByteSize(s);
  if (bytes !== null && bytes > 0) return bytes;
  ctx.addIssue({ code: "custom", message: `not a byte size: "${s}" (${BYTE_SIZE_HINT})` });
  return z.NEVER;
});

/** A KV dtype name or alias, or `auto`; checked here so a typo stops before the model loads. */
export const kvDtypeName: z.ZodType<string> = z.string().min(1).superRefine((name, ctx) => {
  if (name.trim().toLowerCase() === KV_DTYPE_AUTO) return;
  try {
    kvDtype(name);
  } catch (err) {
    if (!(err instanceof UnknownKvDtypeError)) throw err;
    ctx.addIssue({ code: "custom", message: err.message });
  }
});

/** A demotion policy (`answer:int2,think:int3`, or `none`), checked before the model loads. */
export const demotionPolicy: z.ZodType<string> = z.string().min(1).superRefine((s, ctx) => {
  try {
    parseDemotionPolicy(s);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
  }
});

/** A boolean switch (absent: false). */
export const toggle: z.ZodType<boolean> = z.boolean().default(false);

const DTYPES = "auto, f16, fp8, int8, int4, int3, int2";

/** The model folder: every command that loads a model takes it. */
export const MODEL_FLAGS = {
  model: flag(text.optional(), "model folder", {
    value: "DIR",
    defaultText: "models/phasekv-tiny-reasoner",
  }),
};

/** Engine options: each key is the flag, its camel case is the EngineConfig field it sets. */
export const ENGINE_FLAGS = {
  "kv-cache-dtype": flag(
    kvDtypeName.default(KV_DTYPE_AUTO),
    `KV dtype (${DTYPES}) of every phase not set by the flags below`,
    { value: "D" },
  ),
  "kv-cache-dtype-think": flag(kvDtypeName.optional(), "KV dtype of the think phase", {
    value: "D",
  }),
  "kv-cache-dtype-answer": flag(kvDtypeName.optional(), "KV dtype of the answer phase", {
    value: "D",
  }),
  "kv-profile": flag(
    text.default("auto"),
    "the model's phasekv.profile.json (auto), none, or a profile file",
    { value: "auto|none|PATH" },
  ),
  "kv-cache-memory": flag(byteSize.optional(), "KV byte budget, all layers (512MiB, 2GB, ...)", {
    value: "BYTES",
    defaultText: "256MiB",
  }),
  "weights-dtype": flag(
    weightsDtypeSchema.optional(),
    "matrices on the GPU: f16, int8 or int4 (quantized at load)",
    { value: "D", defaultText: "f16" },
  ),
  "block-size": flag(integer(1).optional(), "tokens per KV block", {
    value: "N",
    defaultText: "the profile's block_size, else 16",
  }),
  "kv-recent-tokens": flag(
    integer(0).optional(),
    "newest tokens kept f16: a block is sealed once N newer tokens stand behind it",
    { value: "N", defaultText: `the profile's, else ${DEFAULT_RECENT_TOKENS}` },
  ),
  "think-fraction": flag(
    number(0, 1).default(0.75),
    "share of max_tokens counted as think without think markers",
    { value: "F" },
  ),
  "max-num-seqs": flag(integer(1).optional(), "most sequences running at once", {
    value: "N",
    defaultText: "16",
  }),
  "max-waiting": flag(
    integer(0).optional(),
    "waiting requests before new ones get 503 queue_full",
    {
      value: "N",
      defaultText: "256",
    },
  ),
  "max-num-batched-tokens": flag(
    integer(1).optional(),
    "most tokens (prefill and decode rows) in one step",
    { value: "N", defaultText: "512" },
  ),
  "admission-headroom": flag(
    number(0, 1).optional(),
    "share of each running request's KV growth to max_tokens kept free when admitting (1: never preempt)",
    { value: "F", defaultText: "0" },
  ),
  "kv-demotion": flag(
    demotionPolicy.optional(),
    "under memory pressure, demote sealed blocks (phase:floor, in order) before preempting; none",
    { value: "LIST", defaultText: "answer:int2,think:int3" },
  ),
  "kv-cache-dtype-think-after-answer": flag(
    kvDtypeName.optional(),
    "demote a sequence's think blocks to D when its answer begins",
    { value: "D", defaultText: "none" },
  ),
  "enable-prefix-caching": flag(
    z.boolean().optional(),
    "share full prompt blocks across requests, keyed by content and dtype (on by default)",
  ),
  "no-enable-prefix-caching": flag(z.boolean().optional(), "do not share prompt blocks"),
};

/** Values of ENGINE_FLAGS and MODEL_FLAGS, parsed. */
export type EngineFlagValues = FlagValues<typeof ENGINE_FLAGS & typeof MODEL_FLAGS>;

/** The EngineConfig fields the engine flags set; flags left unset keep the engine's defaults. */
export function engineSettings(
  values: EngineFlagValues,
): Partial<EngineConfig> & { model: string } {
  return {
    model: values.model ?? DEFAULT_MODEL_DIR,
    kvCacheDtype: values.kvCacheDtype,
    kvCacheDtypeThink: values.kvCacheDtypeThink,
    kvCacheDtypeAnswer: values.kvCacheDtypeAnswer,
    kvProfile: values.kvProfile,
    kvCacheMemory: values.kvCacheMemory,
    weightsDtype: values.weightsDtype,
    blockSize: values.blockSize,
    kvRecentTokens: values.kvRecentTokens,
    thinkFraction: values.thinkFraction,
    maxNumSeqs: values.maxNumSeqs,
    maxNumBatchedTokens: values.maxNumBatchedTokens,
    maxWaiting: values.maxWaiting,
    admissionHeadroom: values.admissionHeadroom,
    kvDemotion: values.kvDemotion,
    kvCacheDtypeThinkAfterAnswer: values.kvCacheDtypeThinkAfterAnswer,
    // --no-enable-prefix-caching wins; neither given keeps the engine's default (on)
    enablePrefixCaching: values.noEnablePrefixCaching === true ? false : values.enablePrefixCaching,
  };
}

/** Greedy-by-default sampling, as `generate` takes it. */
export const SAMPLING_FLAGS = {
  "max-tokens": flag(integer(1).default(64), "tokens to generate at most", { value: "N" }),
  temperature: flag(number(0).default(0), "0 is greedy", { value: "T" }),
  "top-p": flag(number(Number.MIN_VALUE, 1).default(1), "nucleus sampling mass", { value: "P" }),
  "top-k": flag(integer(0).default(0), "keep the K likeliest tokens (0: all)", { value: "K" }),
  "min-p": flag(number(0, 1).default(0), "drop tokens below P times the likeliest", {
    value: "P",
  }),
  seed: flag(integer(0).default(0), "sampling seed", { value: "S" }),
  "max-think-tokens": flag(integer(0).optional(), "close the think block after N think tokens", {
    value: "N",
  }),
};
