/**
 * Entry for `deno serve -A src/server/serve.ts`, configured by environment variables
 * (PHASEKV_MODEL, PHASEKV_API_KEY, PHASEKV_KV_CACHE_DTYPE, PHASEKV_KV_CACHE_DTYPE_THINK, …;
 * see flags.ts). The variables are read when the module loads, so a bad one stops `deno serve`
 * at once; the engine starts on the first request, and /health answers 503 until it is ready.
 * @module
 */
import type { EngineApi } from "../engine/types.ts";
import { createApp } from "./app.ts";
import { startEngine } from "./engine_factory.ts";
import { type ServeFlags, serveFlagsFromEnv } from "./flags.ts";

/** What `deno serve` wants as the default export: a fetch handler. */
export interface ServeHandler {
  /** Answers one request, starting the engine on the first. */
  fetch(request: Request): Response | Promise<Response>;
}

/** A handler for `flags` whose engine `start` begins loading on the first request. */
export function lazyServeHandler(
  flags: ServeFlags,
  start: (flags: ServeFlags) => Promise<EngineApi> = startEngine,
): ServeHandler {
  let fetch: ServeHandler["fetch"] | null = null;
  return {
    fetch(request) {
      if (!fetch) {
        const engine = start(flags);
        // the app answers 503 with the reason; the log says it once for the operator
        engine.catch((err: Error) =>
          console.error(`phasekv: the model failed to load: ${err.message}`)
        );
        fetch = createApp(engine, {
          ui: !flags.noUi,
          apiKeys: flags.apiKey,
          servedModelName: flags.servedModelName,
          maxWaiting: flags.maxWaiting,
        }).fetch;
      }
      return fetch(request);
    },
  };
}

const server: ServeHandler = lazyServeHandler(serveFlagsFromEnv((name) => Deno.env.get(name)));

export default server;
