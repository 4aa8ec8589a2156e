/**
 * `deno task serve`: parse flags, start the engine in the background, and serve the
 * OpenAI-compatible API at once (/health answers 503 until the model is loaded). SIGINT and
 * SIGTERM stop taking requests, let the open ones end, and close the engine; a second one exits
 * at once.
 * @module
 */
import type { EngineApi } from "../engine/types.ts";
import { describeKvPolicy } from "../kv/policy.ts";
import { createApp } from "./app.ts";
import { startEngine } from "./engine_factory.ts";
import { modelDir, parseServeArgs, type ServeFlags, USAGE } from "./flags.ts";

const SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

async function main(args: string[]): Promise<number> {
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
  const engine = startEngine(flags);
  // a failed load is reported below; this keeps the rejection from counting as unhandled
  const settled: Promise<EngineApi | null> = engine.catch(() => null);
  const app = createApp(engine, {
    apiKeys: flags.apiKey,
    servedModelName: flags.servedModelName,
    maxWaiting: flags.maxWaiting,
  });
  const server = Deno.serve({
    hostname: flags.host,
    port: flags.port,
    onListen: ({ hostname, port }) =>
      console.log(`phasekv: listening on http://${hostname}:${port}`),
  }, app.fetch);

  let stopping: Promise<void> | null = null;
  const stop = (signal: Deno.Signal) => {
    // a second signal means the user will not wait for open streams to end
    if (stopping) Deno.exit(130);
    console.error(`phasekv: ${signal}: stopping`);
    // the engine closes after the server has drained, so no open stream loses its engine
    stopping ??= server.shutdown().then(async () => await (await settled)?.close());
  };
  const listeners = SIGNALS.map((signal) => [signal, () => stop(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);

  const loaded = await engine.then(
    () => true,
    (err: Error) => {
      console.error(`phasekv: the model failed to load: ${err.message}`);
      return false;
    },
  );
  if (!loaded) {
    await server.shutdown();
    return 1;
  }
  if (!stopping) {
    console.log(`phasekv: model ${dir} loaded`);
    console.log(`phasekv: KV dtypes: ${describeKvPolicy((await engine).kvPolicy)}`);
  }
  await server.finished;
  await stopping;
  for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  return 0;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

// a natural exit (no Deno.exit) lets the runtime finish tearing down the engine Worker first
if (import.meta.main) Deno.exitCode = await main(Deno.args);
