/**
 * The playground page as the server sends it (its CSP admits exactly its own script and style),
 * `--no-ui`, and the /v1/kv fields its KV panel reads. The page in a browser:
 * ui_playground_browser_test.ts.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { createHash } from "node:crypto";
import { createEngine } from "../src/engine/engine.ts";
import { KV_DTYPES } from "../src/kv/dtype.ts";
import { createApp } from "../src/server/app.ts";
import { parseServeArgs, serveFlagsFromEnv } from "../src/server/flags.ts";
import { FakeEngine } from "./helpers/fake_engine.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";

const hasGpu = await navigator.gpu?.requestAdapter().then((a) => a !== null, () => false) ??
  false;

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
}

Deno.test("GET / serves the playground, whose CSP admits its own inline script and style", async () => {
  const res = await createApp(new FakeEngine()).request("/");
  assertEquals(res.status, 200);
  assertStringIncludes(res.headers.get("content-type")!, "text/html");
  const html = await res.text();
  assertStringIncludes(html, "<title>phasekv playground</title>");
  const csp = res.headers.get("content-security-policy")!;
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
  assertEquals([scripts.length, styles.length], [1, 1]);
  assertStringIncludes(csp, `script-src ${sha256(scripts[0])}`);
  assertStringIncludes(csp, `style-src ${sha256(styles[0])}`);
  assertStringIncludes(csp, "connect-src 'self'");
  // nothing is loaded from elsewhere: no CDN, no file beside the module
  assert(!/\b(src|href)="(https?:)?\/\//.test(html), "no external resource");
  new Function(scripts[0]); // parses
  // the dtype menus are the registry's
  for (const d of KV_DTYPES) assertStringIncludes(html, `<option value="${d.name}">`);
  for (const id of ["think-dtype", "answer-dtype", "max-think", "temperature", "max-tokens"]) {
    assertStringIncludes(html, `<label class="field" for="${id}">`);
  }
});

Deno.test("the playground stays open under --api-key while /v1 needs the key", async () => {
  const app = createApp(new FakeEngine(), { apiKeys: ["sk-x"] });
  assertEquals((await app.request("/")).status, 200);
  assertEquals((await app.request("/v1/kv")).status, 401);
  const kv = await app.request("/v1/kv", { headers: { authorization: "Bearer sk-x" } });
  assertEquals(kv.status, 200);
  const body = await kv.json();
  assertEquals([body.num_running, body.num_waiting], [0, 0]);
});

Deno.test("ui: false (--no-ui) leaves GET / out: 404", async () => {
  const res = await createApp(new FakeEngine(), { ui: false }).request("/");
  assertEquals(res.status, 404);
  assertEquals((await res.json()).error.code, "unknown_url");
  assertEquals((await createApp(new FakeEngine()).request("/", { method: "POST" })).status, 405);
});

Deno.test("--no-ui and PHASEKV_NO_UI turn the playground off; bad values name the variable", () => {
  assertEquals(parseServeArgs(["--no-ui"])!.noUi, true);
  assertEquals(parseServeArgs([])!.noUi, undefined);
  const env = (value: string) =>
    serveFlagsFromEnv((n) => n === "PHASEKV_NO_UI" ? value : undefined);
  assertEquals(env("1").noUi, true);
  assertEquals(env("false").noUi, false);
  let message = "";
  try {
    env("maybe");
  } catch (err) {
    message = (err as Error).message;
  }
  assertStringIncludes(message, "PHASEKV_NO_UI");
});

Deno.test({
  name: "GET /v1/kv gives each block's bytes and its bytes at f16 on the real engine",
  ignore: !hasGpu,
  fn: async () => {
    const dir = await makeTinyCheckpoint({ seed: 7 });
    const engine = await createEngine({
      model: dir,
      inProcess: true,
      blockSize: 4,
      kvCacheDtype: "int8",
      kvCacheDtypeThink: "int4",
    });
    try {
      const app = createApp(engine);
      const res = await app.request("/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          messages: [{ role: "user", content: "What is 6*7?" }],
          stream: true,
          max_tokens: 400,
          ignore_eos: true,
        }),
      });
      const reader = res.body!.getReader();
      let kv = {
        num_running: 0,
        kv_cache_usage_perc: 0,
        kv_budget_bytes: 0,
        data: [] as { blocks: Record<string, number | string>[] }[],
      };
      // until a sealed block shows beside the open f16 one
      while (!kv.data[0]?.blocks.some((b) => b.dtype !== "f16")) {
        await reader.read();
        kv = await (await app.request("/v1/kv")).json();
      }
      await reader.cancel();
      assertEquals(kv.num_running, 1);
      const blocks = kv.data[0].blocks;
      const f16 = blocks.find((b) => b.dtype === "f16")!;
      const sealed = blocks.find((b) => b.dtype === "int8")!;
      assertEquals(f16.bytes, f16.f16_bytes);
      assertEquals(sealed.f16_bytes, f16.bytes);
      assert((sealed.bytes as number) < (f16.bytes as number), JSON.stringify(blocks));
      // one snapshot: the blocks' bytes add up to the KV in use
      const total = blocks.reduce((sum, b) => sum + (b.bytes as number), 0);
      assertEquals(total, Math.round(kv.kv_cache_usage_perc * kv.kv_budget_bytes));
    } finally {
      await engine.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
