/**
 * `deno task serve` as a process, on a model folder whose load fails (no GPU needed): it keeps
 * answering /health with 503, and SIGTERM ends it within --shutdown-timeout even while a client
 * holds a half-sent body.
 */
import { assert, assertEquals } from "@std/assert";

const ROOT = new URL("..", import.meta.url).pathname;

/** Starts main.ts on a broken model folder; resolves once it prints its URL. */
async function startBroken(extra: string[] = []) {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/config.json`, "{ not json");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/server/main.ts", "--port", "0", "--model", dir, ...extra],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited: ${out}${await stderr}`);
    out += value;
    url = /listening on (http:\S+)/.exec(out)?.[1];
  }
  const cleanup = async () => {
    await reader.cancel();
    await Deno.remove(dir, { recursive: true });
  };
  return { child, url, stderr, cleanup };
}

async function health(
  url: string,
): Promise<{ status: number; body: { error: { code: string; message: string } } }> {
  const res = await fetch(`${url}/health`);
  return { status: res.status, body: await res.json() };
}

Deno.test("a failed load keeps the server up answering /health 503 without paths; SIGTERM exits 1", async () => {
  const { child, url, stderr, cleanup } = await startBroken();
  try {
    let h = await health(url);
    for (let i = 0; i < 100 && h.body.error.code !== "model_load_failed"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      h = await health(url);
    }
    assertEquals([h.status, h.body.error.code], [503, "model_load_failed"]);
    assert(!h.body.error.message.includes("/tmp"), h.body.error.message);
    await new Promise((r) => setTimeout(r, 300));
    assertEquals((await health(url)).status, 503, "still serving after the failure");
  } finally {
    child.kill("SIGTERM");
    await cleanup();
  }
  assertEquals((await child.status).code, 1);
  assert((await stderr).includes("the model failed to load"));
});

Deno.test("SIGTERM while a client holds a half-sent body exits within --shutdown-timeout", async () => {
  const { child, url, cleanup } = await startBroken(["--shutdown-timeout", "1"]);
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(new TextEncoder().encode(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n" +
        'content-length: 1000\r\n\r\n{"messages": [',
    ));
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    child.kill("SIGTERM");
    const status = await child.status;
    assert(Date.now() - started < 8000, `exited after ${Date.now() - started} ms`);
    assertEquals(status.signal, null);
  } finally {
    conn.close();
    await cleanup();
  }
});
