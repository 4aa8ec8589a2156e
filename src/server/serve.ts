/**
 * Entry for `deno serve -A src/server/serve.ts`, configured by environment variables
 * (PHASEKV_MODEL, PHASEKV_API_KEY, PHASEKV_KV_CACHE_DTYPE, PHASEKV_KV_CACHE_DTYPE_THINK, …;
 * see flags.ts). The variables are read when the module loads, so a bad one stops `deno serve`
 * at once; the engine starts on the first request, and /health answers 503 until it is ready.
 * SIGINT or SIGTERM closes the engine and exits (its Worker would otherwise keep the process up).
 * @module
 */
import type { EngineApi } from "../engine/types.ts";
import { createApp } from "./app.ts";
import { appOptionsFromFlags } from "./app_options.ts";
import { startEngine } from "./engine_factory.ts";
import { type ServeFlags, serveFlagsFromEnv } from "./flags.ts";
import { createLogger } from "./log.ts";
import { startupSummary } from "./startup_summary.ts";

/** What `deno serve` wants as the default export: a fetch handler. */
export interface ServeHandler {
  /** Answers one request, starting the engine on the first. */
  fetch(request: Request): Response | Promise<Response>;
}

/** A handler for `flags` whose engine `start` begins loading on the first request. */
export function lazyServeHandler(
  flags: ServeFlags,
  start: (flags: ServeFlags) => Promise<EngineApi> = startEngine,
  onEngine: (engine: Promise<EngineApi>) => void = () => {},
): ServeHandler {
  let fetch: ServeHandler["fetch"] | null = null;
  const log = createLogger(flags.logLevel);
  return {
    fetch(request) {
      if (!fetch) {
        const engine = start(flags);
        // the app answers 503; the log says why once, for the operator
        engine.then(
          (ready) => startupSummary(ready, flags).forEach((line) => log.info(line)),
          (err: Error) => log.error(`the model failed to load: ${err.message}`),
        );
        onEngine(engine);
        fetch = createApp(engine, appOptionsFromFlags(flags, log)).fetch;
      }
      return fetch(request);
    },
  };
}

/** Closes the engine and exits on SIGINT or SIGTERM, once an engine has started. */
function exitOnSignal(engine: Promise<EngineApi>): void {
  const stop = async () => {
    const ready = await engine.catch(() => null);
    await ready?.close();
    Deno.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);
}

const server: ServeHandler = lazyServeHandler(
  serveFlagsFromEnv((name) => Deno.env.get(name)),
  startEngine,
  exitOnSignal,
);

export default server;
