/**
 * The `phasekv` command: installed with `deno install` into a temporary root, it dispatches
 * its subcommands and serves the default model.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { phasekv } from "../src/cli/phasekv.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const hasGpu = await navigator.gpu?.requestAdapter().then((a) => a !== null, () => false) ??
  false;

/** Installs the command into a fresh root; returns the path of its launcher. */
async function install(root: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "install",
      "-g",
      "-A",
      "-n",
      "phasekv",
      "--root",
      root,
      "--config",
      "deno.json",
      "src/cli/phasekv.ts",
    ],
    cwd: ROOT,
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  return `${root}/bin/phasekv`;
}

// the launcher runs `deno` from PATH
const ENV = {
  PATH: `${Deno.execPath().replace(/\/[^/]+$/, "")}:${Deno.env.get("PATH") ?? ""}`,
};

Deno.test("phasekv dispatches its subcommands and refuses unknown ones", async () => {
  assertEquals(await phasekv(["help"]), 0);
  assertEquals(await phasekv(["frobnicate"]), 2);
  assertEquals(await phasekv(["bench", "nothing"]), 2);
  assertEquals(await phasekv(["serve", "--port", "http"]), 2, "serve's own flag errors");
  assertEquals(await phasekv(["serve", "--help"]), 0);
});

Deno.test({
  name: "phasekv installed with deno install serves the default model",
  ignore: !hasGpu,
  fn: async () => {
    const root = await Deno.makeTempDir();
    try {
      const bin = await install(root);
      const help = await new Deno.Command(bin, { args: ["help"], env: ENV }).output();
      assertStringIncludes(new TextDecoder().decode(help.stdout), "phasekv serve --help");
      const child = new Deno.Command(bin, {
        args: ["serve", "--port", "0"],
        env: ENV,
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      try {
        let out = "";
        let url: string | undefined;
        while (!url) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`phasekv serve exited: ${out}`);
          out += value;
          url = /listening on (http:\S+)/.exec(out)?.[1];
        }
        let status = 0;
        for (let i = 0; i < 600 && status !== 200; i++) {
          const res = await fetch(`${url}/health`);
          status = res.status;
          await res.body?.cancel();
          if (status !== 200) await new Promise((r) => setTimeout(r, 100));
        }
        assertEquals(status, 200);
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            messages: [{ role: "user", content: "What is 12+34?" }],
            max_tokens: 64,
          }),
        });
        assertEquals(res.status, 200);
        const body = await res.json();
        assertEquals(body.model, "phasekv-tiny-reasoner");
        assert(body.usage.completion_tokens > 0);
      } finally {
        child.kill("SIGTERM");
        await reader.cancel();
      }
      assertEquals((await child.status).code, 0);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
