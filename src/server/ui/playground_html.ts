/**
 * The playground page: one self-contained HTML document (style and script inline, no CDN, no
 * build step), with a Content-Security-Policy that allows exactly its own inline style and script
 * and requests to its own origin.
 * @module
 */
import { createHash } from "node:crypto";
import { KV_DTYPES } from "../../kv/dtype.ts";
import { PHASES } from "../../kv/types.ts";
import { PLAYGROUND_CSS } from "./playground_css.ts";
import { PLAYGROUND_JS } from "./playground_js.ts";

/** The page and the Content-Security-Policy header it is served with. */
export interface PlaygroundPage {
  html: string;
  csp: string;
}

/** Builds the page; the dtype menus and shades come from the dtype registry. */
export function playgroundPage(): PlaygroundPage {
  // the script reads these instead of keeping a second list of dtypes
  const config = JSON.stringify({
    dtypes: KV_DTYPES.map((d) => ({ name: d.name, bits: d.meanBits })),
    phases: PHASES,
  }).replaceAll("<", "\\u003c");
  const options = KV_DTYPES.map((d) => `<option value="${d.name}">${d.name}</option>`).join("");
  const dtypeSelect = (id: string, label: string, hint: string) =>
    `<label class="field" for="${id}">${label}<select id="${id}" aria-describedby="${id}-hint">` +
    `<option value="">server default</option>${options}</select>` +
    `<span id="${id}-hint" class="sr-only">${hint}</span></label>`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>phasekv playground</title>
<link rel="icon" href="data:,">
<style>${PLAYGROUND_CSS}</style>
</head>
<body>
<header>
  <h1>phasekv <span>playground</span></h1>
  <div id="status" role="status" data-state="loading">connecting…</div>
  <div class="spacer"></div>
  <button type="button" id="key-button" aria-haspopup="dialog">API key</button>
</header>
<main>
  <section class="panel" aria-labelledby="chat-title">
    <h2 id="chat-title">Chat</h2>
    <div id="log" role="log" aria-live="polite" aria-label="Conversation"></div>
    <form id="chat" aria-label="Ask the model">
      <fieldset>
        <legend>This request</legend>
        ${dtypeSelect("think-dtype", "Think KV dtype", "KV cache dtype of the think phase")}
        ${dtypeSelect("answer-dtype", "Answer KV dtype", "KV cache dtype of the answer phase")}
        <label class="field" for="max-think">Think budget
          <input id="max-think" type="number" min="1" step="1" placeholder="none"
            aria-describedby="max-think-hint"></label>
        <span id="max-think-hint" class="sr-only">max_think_tokens: the engine closes the think
          block after this many tokens; empty for no budget</span>
        <label class="field" for="temperature">Temperature
          <input id="temperature" type="number" min="0" max="2" step="0.1" value="0"></label>
        <label class="field" for="max-tokens">Max tokens
          <input id="max-tokens" type="number" min="1" step="1" value="256"></label>
        <label class="field" for="history">Context
          <select id="history"><option value="turn">this turn only</option>
          <option value="all">whole conversation</option></select></label>
      </fieldset>
      <div class="compose">
        <label for="prompt" class="sr-only">Message (Enter sends, Shift+Enter adds a line,
          Escape stops)</label>
        <textarea id="prompt" rows="2" placeholder="What is 347+1286?" required></textarea>
        <button type="submit" id="send" class="primary">Send</button>
        <button type="button" id="stop" disabled>Stop</button>
        <button type="button" id="clear" title="Clear the conversation">Clear</button>
      </div>
      <p class="hint" aria-hidden="true">Enter sends · Shift+Enter adds a line · Esc stops</p>
    </form>
  </section>
  <section class="panel" aria-labelledby="kv-title">
    <h2 id="kv-title">KV cache, live</h2>
    <div id="kv-body">
      <div class="engine" aria-label="Engine">
        <div class="stat"><b id="num-running">–</b><span>running</span></div>
        <div class="stat"><b id="num-waiting">–</b><span>waiting</span></div>
        <div class="stat"><b id="kv-usage">–</b><span>KV in use</span>
          <div class="usage-bar" role="meter" id="kv-meter" aria-label="KV cache in use"
            aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div></div></div></div>
        <div class="stat"><b id="kv-bpt">–</b><span id="kv-bpt-note">bytes per token</span></div>
      </div>
      <div class="legend" id="legend" aria-hidden="true"></div>
      <p id="kv-legend-text" class="sr-only">Each running request is listed with its KV blocks in
        order. A block's colour is its phase, its shade its dtype (darker holds more bits), its
        width its bytes.</p>
      <div id="kv-requests" aria-live="off"></div>
      <div id="kv-empty">No request is running. Send one and its blocks appear here.</div>
    </div>
  </section>
</main>
<dialog id="key-dialog" aria-labelledby="key-title">
  <form method="dialog" id="key-form">
    <h2 id="key-title">API key</h2>
    <label for="key-input">Bearer key for /v1 (kept for this tab only)</label>
    <input id="key-input" type="password" autocomplete="off" spellcheck="false">
    <div class="row">
      <button type="button" id="key-forget">Forget</button>
      <button type="submit" class="primary" value="save">Save</button>
    </div>
  </form>
</dialog>
<script type="application/json" id="playground-config">${config}</script>
<script>${PLAYGROUND_JS}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src '${sha256(PLAYGROUND_JS)}'`,
    // the script sets sizes and colours through the CSSOM, which style-src does not govern
    `style-src '${sha256(PLAYGROUND_CSS)}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}

function sha256(text: string): string {
  return `sha256-${createHash("sha256").update(text).digest("base64")}`;
}
