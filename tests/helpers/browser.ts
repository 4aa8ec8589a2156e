/**
 * Finding a Chromium for the browser tests, and starting `deno task serve` on a free port.
 * @module
 */

const BROWSER_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/** The browser to drive: $PHASEKV_CHROMIUM, else the first of BROWSER_NAMES on $PATH; or null. */
export function findChromium(): string | null {
  const given = Deno.env.get("PHASEKV_CHROMIUM");
  if (given) return given;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of BROWSER_NAMES) {
      const path = `${dir}/${name}`;
      try {
        if (Deno.statSync(path).isFile) return path;
      } catch {
        // not in this directory
      }
    }
  }
  return null;
}

/** Whether the tests run under CI, where a missing browser is a failure and not a skip. */
export function underCi(): boolean {
  const ci = Deno.env.get("CI")?.toLowerCase();
  return ci === "true" || ci === "1";
}

/** A running `deno task serve` child. */
export interface ServerChild {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Stops the server with SIGTERM and waits for it to exit; returns its stderr. */
  stop(): Promise<string>;
}

/** Starts src/server/main.ts with `args` on a free port; resolves once it listens. */
export async function startServer(args: readonly string[]): Promise<ServerChild> {
  const main = new URL("../../src/server/main.ts", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main.pathname, "--port", "0", ...args],
    // from the repository root so that deno.json applies, as with the task
    cwd: new URL("../..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already exited
    }
    await lines.cancel();
    await child.status;
    return await stderr;
  };
  let out = "";
  try {
    while (true) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`the server exited: ${out}${await stderr}`);
      out += value;
      const url = /listening on (http:\S+)/.exec(out)?.[1];
      if (url) return { url, stop };
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
