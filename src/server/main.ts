/**
 * `deno task serve`: parse flags, start the engine in the background, and serve the
 * OpenAI-compatible API at once (/health answers 503 until the model is loaded).
 * @module
 */
import { createApp } from "./app.ts";
import { startEngine } from "./engine_factory.ts";
import { modelDir, parseServeArgs, type ServeFlags, USAGE } from "./flags.ts";

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
  console.log(`phasekv: model ${dir} loaded`);
  const stop = async () => {
    await server.shutdown();
    await (await engine).close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
  return 0;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
