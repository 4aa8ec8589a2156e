/**
 * The app's options as the serve flags set them: one mapping for `deno task serve` and for
 * `deno serve`.
 * @module
 */
import type { AppOptions } from "./app.ts";
import type { ServeFlags } from "./flags.ts";
import { createLogger, type Logger } from "./log.ts";

/** createApp's options for `flags`; `logger` defaults to one at `--log-level`. */
export function appOptionsFromFlags(
  flags: ServeFlags,
  logger: Logger = createLogger(flags.logLevel),
): AppOptions {
  return {
    ui: !flags.noUi,
    apiKeys: flags.apiKey,
    servedModelName: flags.servedModelName,
    reasoningField: flags.reasoningField,
    allowedOrigins: flags.allowedOrigins,
    bodyReadTimeoutMs: flags.bodyReadTimeout * 1000,
    maxOpenRequests: flags.maxOpenRequests,
    logger,
  };
}
