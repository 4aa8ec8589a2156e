/**
 * `deno task serve`: parse flags, start the engine in the background, and serve the
 * OpenAI-compatible API at once (/health answers 503 until the model is loaded, and keeps
 * answering 503 if the load fails). SIGINT and SIGTERM stop taking requests, give the open ones
 * `--shutdown-timeout` seconds to end, and close the engine; a second signal exits at once.
 * @module
 */
import type { EngineApi } from "../engine/types.ts";
import { createApp } from "./app.ts";
import { appOptionsFromFlags } from "./app_options.ts";
import { startEngine } from "./engine_factory.ts";
import { modelDir, parseServeArgs, type ServeFlags, USAGE } from "./flags.ts";
import { createLogger } from "./log.ts";
import { startupSummary } from "./startup_summary.ts";

const SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

/** Runs the server for command-line `args` until a signal stops it; resolves to the exit code. */
export async function serveMain(args: string[]): Promise<number> {
  let flags: ServeFlags | null;
  try {
    flags = parseServeArgs(args);
  } catch (err) {
    console.error(`phasekv: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!flags) {
    console.log(USAGE);
    return 0;
  }
  const dir = modelDir(flags);
  if (!await isDirectory(dir)) {
    console.error(`phasekv: a model is needed: no model folder at ${dir}; pass --model DIR`);
    return 2;
  }
  const log = createLogger(flags.logLevel);
  const engine = startEngine(flags, { onProgress: (message) => log.debug(message) });
  // a failed load is reported below; this keeps the rejection from counting as unhandled
  const settled: Promise<EngineApi | null> = engine.catch(() => null);
  let stopping = false;
  const app = createApp(engine, { ...appOptionsFromFlags(flags, log), isDraining: () => stopping });
  const server = Deno.serve({
    hostname: flags.host,
    port: flags.port,
    onListen: ({ hostname, port }) =>
      console.log(`phasekv: listening on http://${hostname}:${port}`),
  }, app.fetch);

  const deadlineMs = flags.shutdownTimeout * 1000;
  const stopped = Promise.withResolvers<boolean>();
  const stop = (signal: Deno.Signal) => {
    // a second signal means the user will not wait for open streams to end
    if (stopping) Deno.exit(130);
    stopping = true;
    log.warn(`${signal}: stopping (open requests get ${flags.shutdownTimeout} s)`);
    // the engine closes after the server has drained, so no open stream loses its engine
    drain(server, deadlineMs).then(async (late) => {
      if (late) log.warn("the shutdown deadline passed: cutting off the open requests");
      await (await settled)?.close();
      stopped.resolve(late);
    });
  };
  const listeners = SIGNALS.map((signal) => [signal, () => stop(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);

  const loaded = await engine.then(
    (ready) => {
      if (!stopping) { for (const line of startupSummary(ready, flags)) log.info(line); }
      return true;
    },
    (err: Error) => {
      // the server stays up, /health answering 503, so an orchestrator sees the failure
      log.error(`the model failed to load: ${err.message}`);
      return false;
    },
  );
  const late = await stopped.promise;
  for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  const code = loaded ? 0 : 1;
  // connections still open would keep the process alive past the deadline
  if (late) Deno.exit(code);
  return code;
}

/** Shuts the server down; true when `deadlineMs` passed before the open requests ended. */
async function drain(server: Deno.HttpServer, deadlineMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) =>
    timer = setTimeout(() => resolve(true), deadlineMs)
  );
  const outcome = await Promise.race([server.shutdown().then(() => false), late]);
  clearTimeout(timer);
  return outcome;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

// a natural exit (no Deno.exit) lets the runtime finish tearing down the engine Worker first
if (import.meta.main) Deno.exitCode = await serveMain(Deno.args);
