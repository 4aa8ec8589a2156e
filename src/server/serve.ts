/**
 * Entry for `deno serve -A src/server/serve.ts`, configured by environment variables
 * (PHASEKV_MODEL, PHASEKV_API_KEY, PHASEKV_KV_CACHE_DTYPE, PHASEKV_KV_CACHE_DTYPE_THINK, …;
 * see flags.ts). The engine starts on the first request; /health answers 503 until it is ready.
 * @module
 */
import type { Hono } from "hono";
import { createApp } from "./app.ts";
import { startEngine } from "./engine_factory.ts";
import { serveFlagsFromEnv } from "./flags.ts";

let app: Hono | null = null;

function lazyApp(): Hono {
  if (!app) {
    const flags = serveFlagsFromEnv((name) => Deno.env.get(name));
    const engine = startEngine(flags);
    engine.catch((err: Error) =>
      console.error(`phasekv: the model failed to load: ${err.message}`)
    );
    app = createApp(engine, {
      apiKeys: flags.apiKey,
      servedModelName: flags.servedModelName,
      maxWaiting: flags.maxWaiting,
    });
  }
  return app;
}

/** The `deno serve` handler. */
const server: { fetch: (request: Request) => Response | Promise<Response> } = {
  fetch: (request) => lazyApp().fetch(request),
};

export default server;
