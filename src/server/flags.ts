/**
 * The serve configuration, from command-line flags (main.ts) or PHASEKV_* environment
 * variables (serve.ts): the shared engine flags (src/config/flags.ts) and the server's own.
 * @module
 */
import { z } from "zod";
import {
  flag,
  flagsFromEnv,
  type FlagValues,
  parseFlags,
  usageText,
} from "../config/flag_parser.ts";
import {
  DEFAULT_MODEL_DIR,
  ENGINE_FLAGS,
  integer,
  MODEL_FLAGS,
  number,
  text,
} from "../config/flags.ts";

export { BYTE_SIZE_HINT, DEFAULT_MODEL_DIR, parseByteSize } from "../config/flags.ts";

/** Flags only the server takes. */
export const SERVER_FLAGS = {
  host: flag(text.default("127.0.0.1"), "address to listen on", { value: "H" }),
  port: flag(integer(0, 65535).default(8000), "port (0 picks a free one)", { value: "P" }),
  "api-key": flag(z.array(text).default([]), "bearer key for /v1/* (repeat for several)", {
    value: "K",
    multiple: true,
  }),
  "served-model-name": flag(text.optional(), "the model name clients send", {
    value: "NAME",
    defaultText: "the folder name",
  }),
  "reasoning-field": flag(
    z.enum(["both", "reasoning", "reasoning_content"]).default("both"),
    "where chat responses put the reasoning: both, reasoning (vLLM) or reasoning_content",
    { value: "F" },
  ),
  "allowed-origins": flag(
    z.array(text).default([]),
    "CORS: an origin browsers may call from, or *",
    {
      value: "O",
      multiple: true,
      defaultText: "none",
    },
  ),
  "log-level": flag(
    z.enum(["debug", "info", "warn", "error"]).default("info"),
    "debug, info (a line per request), warn or error",
    { value: "L" },
  ),
  "shutdown-timeout": flag(number(0).default(30), "seconds open requests get after SIGTERM", {
    value: "S",
  }),
  "body-read-timeout": flag(
    number(Number.MIN_VALUE).default(30),
    "seconds a client gets to send its request body",
    { value: "S" },
  ),
  "max-open-requests": flag(
    integer(1).default(1024),
    "requests served at once, streams included; more get 503",
    { value: "N" },
  ),
  "no-ui": flag(z.boolean().optional(), "do not serve the playground page at /"),
};

/** Every flag of `deno task serve`, and the PHASEKV_* variables of `deno serve`. */
export const SERVE_FLAGS = { ...MODEL_FLAGS, ...SERVER_FLAGS, ...ENGINE_FLAGS };

/** The serve configuration, validated. */
export type ServeFlags = FlagValues<typeof SERVE_FLAGS>;

/** Usage text of `deno task serve`. */
export const USAGE: string = usageText(
  "deno task serve [options]",
  SERVE_FLAGS,
  "Serves the model over an OpenAI-compatible API. Each flag is also a PHASEKV_* variable of\n" +
    "`deno serve -A src/server/serve.ts` (--kv-cache-dtype is PHASEKV_KV_CACHE_DTYPE).",
);

/** Parses command-line flags; null when --help was asked; throws a FlagError naming the bad flag. */
export function parseServeArgs(args: readonly string[]): ServeFlags | null {
  return parseFlags(SERVE_FLAGS, args);
}

/** Reads PHASEKV_MODEL, PHASEKV_API_KEY (comma-separated), PHASEKV_KV_CACHE_DTYPE and the rest. */
export function serveFlagsFromEnv(get: (name: string) => string | undefined): ServeFlags {
  return flagsFromEnv(SERVE_FLAGS, get);
}

/** The model folder to load: the --model flag, or the repository's tiny reasoner. */
export function modelDir(flags: ServeFlags): string {
  return flags.model ?? DEFAULT_MODEL_DIR;
}
