/**
 * `phasekv`: one command for the runtime's tasks, taking the same flags as `deno task …`:
 *
 *   phasekv serve [--model DIR] [--port P] …    the OpenAI-compatible server
 *   phasekv generate --prompt TEXT [--chat] …   one generation through the engine
 *   phasekv calibrate [--model DIR] …           measure the model, write phasekv.profile.json
 *   phasekv bench decode|throughput|accuracy|kv_codec [flags]
 *
 * Install it with `deno install -g -A -n phasekv --config deno.json src/cli/phasekv.ts` from a
 * checkout (or `deno install -g -A -n phasekv jsr:@phasekv/runtime/cli` once published).
 * @module
 */
import { serveMain } from "../server/main.ts";
import { main as calibrateMain } from "./calibrate.ts";
import { main as generateMain } from "./generate.ts";

/** Usage text of `phasekv`. */
export const PHASEKV_USAGE: string = `Usage: phasekv <command> [options]

Commands:
  serve       serve a model over the OpenAI-compatible API (phasekv serve --help)
  generate    one generation through the engine (phasekv generate --help)
  calibrate   measure the model's phases, write phasekv.profile.json (phasekv calibrate --help)
  bench NAME  run a benchmark: decode, throughput, accuracy or kv_codec (from a checkout)
  help        show this help`;

const BENCHES: Readonly<Record<string, string>> = {
  decode: "../../bench/decode.ts",
  throughput: "../../bench/throughput.ts",
  accuracy: "../../bench/accuracy.ts",
  kv_codec: "../../bench/kv_codec.ts",
};

/** Runs `phasekv args`; resolves to the exit code. */
export async function phasekv(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "serve":
      return await serveMain(rest);
    case "generate":
      return await generateMain(rest);
    case "calibrate":
      return await calibrateMain(rest);
    case "bench":
      return await bench(rest);
    case undefined:
    case "help":
    case "-h":
    case "--help":
      console.log(PHASEKV_USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`phasekv: unknown command '${command}'\n\n${PHASEKV_USAGE}`);
      return 2;
  }
}

// the benches live beside the repository's deno.json; they are not part of the published package
async function bench([name, ...args]: string[]): Promise<number> {
  const path = name === undefined ? undefined : BENCHES[name];
  if (!path) {
    console.error(`phasekv: bench takes one of ${Object.keys(BENCHES).join(", ")}`);
    return 2;
  }
  const url = new URL(path, import.meta.url);
  const config = new URL("../../deno.json", import.meta.url);
  if (url.protocol !== "file:" || !await exists(url)) {
    console.error("phasekv: the benches run from a checkout of the phasekv repository");
    return 2;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", config.pathname, url.pathname, ...args],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch {
    return false;
  }
}

if (import.meta.main) Deno.exitCode = await phasekv(Deno.args);
