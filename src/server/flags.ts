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
import { DEFAULT_MODEL_DIR, ENGINE_FLAGS, integer, MODEL_FLAGS, text } from "../config/flags.ts";

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
