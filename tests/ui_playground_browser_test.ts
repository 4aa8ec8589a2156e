/**
 * The playground in a real browser (Chromium through puppeteer-core) against `deno task serve` on
 * the default model: the key dialog, a streamed chat with reasoning and answer, the per-request KV
 * dtypes shown on the live map, the stop button, and a screenshot in reports/ui/.
 */
import { assert, assertEquals } from "@std/assert";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { USAGE } from "../src/server/flags.ts";
import { findChromium, type ServerChild, startServer, underCi } from "./helpers/browser.ts";

const chromium = findChromium();
const hasGpu = await navigator.gpu?.requestAdapter().then((a) => a !== null, () => false) ??
  false;
const SCREENSHOT = new URL("../reports/ui/playground.png", import.meta.url);
const KEY = "sk-playground-test";
// 4-token blocks, sealed as soon as they are full: the default model's short answers (about 20
// tokens) fill and seal several blocks at the answer's dtype
const SERVE_ARGS = [
  "--api-key",
  KEY,
  "--block-size",
  "4",
  ...(USAGE.includes("--kv-recent-tokens") ? ["--kv-recent-tokens", "0"] : []),
];

if (!chromium && !underCi()) {
  console.warn(
    "ui_playground_browser_test: skipped, no Chromium found (apt-get install -y chromium, or set " +
      "PHASEKV_CHROMIUM); under CI=true this is a failure",
  );
}

// page code is passed as text: these tests type-check without the DOM's types

/**
 * Records every (phase, dtype) a KV cell had, as cells appear: what the page showed; "live:"
 * marks the cells of a map polled from /v1/kv (not the final map a finished request leaves).
 */
const RECORD_CELLS = `(() => {
  const seen = new Set();
  globalThis.__kvSeen = seen;
  globalThis.__kvLiveIds = new Set();
  globalThis.__kvLiveMine = false;
  new MutationObserver(() => {
    for (const req of document.querySelectorAll(".req:not(.finished)")) {
      globalThis.__kvLiveIds.add(req.dataset.requestId);
      if (req.classList.contains("mine")) globalThis.__kvLiveMine = true;
    }
    for (const cell of document.querySelectorAll(".req .kv-cell")) {
      const key = cell.dataset.phase + ":" + cell.dataset.dtype;
      seen.add(key);
      if (!cell.closest(".req.final")) seen.add("live:" + key);
    }
  }).observe(document, { childList: true, subtree: true });
})()`;

async function js<T>(page: Page, expression: string): Promise<T> {
  return await page.evaluate(expression) as T;
}

/** Waits for `expression` in the page; a timeout names it and shows what the page held. */
async function until(page: Page, expression: string, timeout = 60_000): Promise<void> {
  try {
    await page.waitForFunction(expression, { timeout, polling: 50 });
  } catch (err) {
    const shown = await js(
      page,
      '[...document.querySelectorAll("#status, #log, #kv-body")]' +
        '.map((e) => e.innerText).join("\\n---\\n")',
    ).catch((e) => String(e));
    throw new Error(`Timed out waiting for ${expression}; the page showed:\n${shown}`, {
      cause: err,
    });
  }
}

function text(selector: string): string {
  return `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? "")`;
}

Deno.test({
  name: "the playground streams a chat and shows its KV blocks by phase and chosen dtype",
  ignore: (!chromium && !underCi()) || !hasGpu,
  // puppeteer keeps sockets and timers of its own past close()
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    assert(chromium, "CI=true needs a Chromium: apt-get install -y chromium");
    let server: ServerChild | null = null;
    let browser: Browser | null = null;
    try {
      [server, browser] = await Promise.all([
        startServer(SERVE_ARGS),
        puppeteer.launch({
          executablePath: chromium,
          headless: true,
          args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        }),
      ]);
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 800 });
      const errors: string[] = [];
      page.on("pageerror", (err) => errors.push(String(err)));
      page.on("console", (msg) => {
        // 401 before the key is given and 503 while the model loads are answers the page handles
        const expected = /Failed to load resource: .* (401|503)/.test(msg.text());
        if (msg.type() === "error" && !expected) errors.push(msg.text());
      });
      await page.evaluateOnNewDocument(RECORD_CELLS);
      const res = await page.goto(`${server.url}/`);
      assertEquals(res?.status(), 200);

      // the key is asked for once (the server answers 401 without it) and kept for the tab
      await page.waitForSelector("#key-dialog[open]");
      await page.type("#key-input", KEY);
      await page.keyboard.press("Enter");
      await page.waitForSelector('#status[data-state="ready"]', { timeout: 60_000 });
      assertEquals(await js(page, 'sessionStorage.getItem("phasekv.apiKey")'), KEY);

      // the request's own dtypes beat the model's calibration profile (int4 think, int3 answer)
      await page.select("#think-dtype", "int8");
      await page.select("#answer-dtype", "int4");
      await page.type("#prompt", "What is 347+1286?");
      await page.keyboard.press("Enter");
      await until(page, `${text(".reasoning-text")}.trim() !== ""`);
      await until(
        page,
        `document.querySelector(".msg.assistant").getAttribute("aria-busy") === "false"`,
      );
      const reasoning = await js<string>(page, text(".reasoning-text"));
      const answer = await js<string>(page, text(".answer"));
      assert(!(await page.$(".msg.assistant .error")), await js(page, text(".msg.assistant")));
      assert(/\d/.test(reasoning), `reasoning: ${reasoning}`);
      assert(answer.trim().length > 0);
      assert(!answer.includes("<think>") && !reasoning.includes("</think>"));
      assert(await js(page, 'document.querySelector("details.reasoning").open'));

      // the live map caught the request running (how far it had got depends on the machine's
      // load), and the maps showed think blocks sealed at int8 and answer blocks at int4, and no
      // other quantized dtype for those phases (a block is f16 until it is sealed)
      const seen = await js<string[]>(page, "[...globalThis.__kvSeen].sort()");
      assert(seen.some((s) => s.startsWith("live:")), `a live map: ${seen}`);
      assert(seen.includes("think:int8"), `think int8 blocks on the map: ${seen}`);
      assert(seen.includes("answer:int4"), `answer int4 blocks on the map: ${seen}`);
      for (const s of seen) {
        const [phase, dtype] = s.replace(/^live:/, "").split(":");
        if (phase === "think") assert(["int8", "f16"].includes(dtype), s);
        if (phase === "answer") assert(["int4", "f16"].includes(dtype), s);
      }
      // the finished request's last map stays, matched to this chat when the ids agree
      const responseId = await js<string>(
        page,
        'document.querySelector(".msg.assistant").dataset.responseId',
      );
      const kvIds = await js<string[]>(
        page,
        '[...document.querySelectorAll(".req")].map((e) => e.dataset.requestId)',
      );
      assert(kvIds.length >= 1, "the last map of the finished request stays on screen");
      if (kvIds.includes(responseId)) assert(await page.$(".req.mine"), "matched by response id");
      // once /v1/kv names requests by their response id, the running map is marked as this chat's
      if (await js(page, `globalThis.__kvLiveIds.has(${JSON.stringify(responseId)})`)) {
        assert(await js(page, "globalThis.__kvLiveMine"), "the live map is matched to the chat");
      }
      const stats = await js<string>(page, text(".req-stats"));
      assert(/\d+ B\/token vs \d+ at f16/.test(stats), stats);
      await until(page, `${text("#num-running")} === "0"`);

      await Deno.mkdir(new URL(".", SCREENSHOT), { recursive: true });
      await js(page, "document.activeElement?.blur()"); // no focus ring in the picture
      await page.screenshot({ path: SCREENSHOT.pathname });

      // Stop aborts a running request (clicked at once, long before the model could finish):
      // the page says so and the server frees it
      await page.type("#prompt", "What is 9999-8888?");
      await page.keyboard.press("Enter");
      await page.click("#stop");
      await until(
        page,
        `document.querySelectorAll('.msg.assistant[aria-busy="false"]').length === 2`,
      );
      const meta = await js(
        page,
        '[...document.querySelectorAll(".msg.assistant .meta")].at(-1).textContent',
      );
      assertEquals(meta, "stopped");
      assert(await js(page, 'document.querySelector("#stop").disabled'));
      await until(page, `${text("#num-running")} === "0"`);

      // another client's request with open, shared and demoted blocks (fields the page draws
      // when the server sends them): each kind told apart, widths by bytes
      await page.setRequestInterception(true);
      page.on("request", (req) => {
        if (!req.url().endsWith("/v1/kv")) return void req.continue();
        const block = (phase: string, dtype: string, bytes: number, more = {}) => ({
          phase,
          dtype,
          tokens: 4,
          bytes,
          f16_bytes: 4096,
          ...more,
        });
        void req.respond({
          contentType: "application/json",
          body: JSON.stringify({
            object: "kv_block_map",
            kv_cache_usage_perc: 0.5,
            kv_budget_bytes: 1 << 20,
            num_running: 1,
            num_waiting: 2,
            data: [{
              request_id: "chatcmpl-another-client",
              blocks: [
                block("prompt", "int8", 2176, { shared: true }),
                block("think", "int4", 1152, { demoted: true }),
                block("think", "f16", 4096, { open: true }),
              ],
            }],
          }),
        });
      });
      await until(page, `${text("#num-waiting")} === "2"`, 5_000);
      const cells = await js<{ cls: string; width: number }[]>(
        page,
        `[...document.querySelectorAll(".req:not(.finished) .kv-cell")]
          .map((c) => ({ cls: c.className, width: c.getBoundingClientRect().width }))`,
      );
      assertEquals(cells.map((c) => c.cls), [
        "kv-cell shared",
        "kv-cell demoted",
        "kv-cell open",
      ]);
      // border-box widths: 2176 and 1152 bytes against 4096 at f16
      const ratio = (i: number) => cells[i].width / cells[2].width;
      assert(Math.abs(ratio(0) - 2176 / 4096) < 0.05, `${ratio(0)}`);
      assert(Math.abs(ratio(1) - 1152 / 4096) < 0.05, `${ratio(1)}`);
      assert(!(await page.$(".req.mine:not(.finished)")), "not this tab's request");
      assertEquals(await js(page, text("#kv-usage")), "50.0%");
      assertEquals(errors, []);
    } finally {
      await browser?.close();
      const log = await server?.stop();
      if (log?.includes("error")) console.error(log);
    }
  },
});
