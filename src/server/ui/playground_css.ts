/**
 * The playground's stylesheet, a string so that the page works when the package is imported from
 * JSR (no file beside the module can be read there). Phase hues and the dtype lightness scale are
 * CSS variables the script reads back, so colours are chosen in one place.
 * @module
 */

/** The playground's CSS. */
export const PLAYGROUND_CSS: string = String.raw`
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #ffffff; --ink: #1d2330; --muted: #5d6677; --line: #d9dde5;
  --accent: #3451b2; --accent-ink: #ffffff; --danger: #b42318; --focus: #f59e0b;
  --reason-bg: #f3f0fb; --reason-line: #8b6fd6; --user-bg: #e9eefc;
  --hue-prompt: 212; --hue-think: 268; --hue-answer: 150; --sat: 62%;
  --demoted: #e8590c;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #12151c; --panel: #1b1f29; --ink: #e6e9ef; --muted: #9aa3b5; --line: #2e3442;
    --accent: #7c93f0; --accent-ink: #0d1020; --danger: #ff7b6b;
    --reason-bg: #221d33; --reason-line: #9f86ea; --user-bg: #232c45;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); }
.sr-only {
  position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
header {
  display: flex; align-items: center; gap: 16px; padding: 10px 20px;
  background: var(--panel); border-bottom: 1px solid var(--line);
}
header h1 { font-size: 17px; margin: 0; letter-spacing: .2px; }
header h1 span { color: var(--muted); font-weight: 500; }
#status { color: var(--muted); font-size: 13px; display: flex; align-items: center; gap: 6px; }
#status::before {
  content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--muted);
}
#status[data-state="ready"]::before { background: #2f9e44; }
#status[data-state="loading"]::before { background: #f59f00; }
#status[data-state="error"]::before { background: var(--danger); }
header .spacer { flex: 1; }
button, select, input, textarea { font: inherit; color: inherit; }
button {
  border: 1px solid var(--line); background: var(--panel); border-radius: 8px;
  padding: 6px 14px; cursor: pointer;
}
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-ink); }
button:disabled { opacity: .45; cursor: default; }
main {
  display: grid; grid-template-columns: minmax(360px, 1fr) minmax(380px, 1.05fr); gap: 16px;
  padding: 16px 20px; height: calc(100vh - 55px);
}
section.panel {
  background: var(--panel); border: 1px solid var(--line); border-radius: 12px;
  display: flex; flex-direction: column; min-height: 0;
}
section.panel > h2 {
  font-size: 13px; text-transform: uppercase; letter-spacing: .08em; color: var(--muted);
  margin: 0; padding: 12px 16px 8px;
}
#log { flex: 1; overflow-y: auto; padding: 4px 16px 12px; min-height: 0; }
#log:empty::before {
  content: "Ask something, e.g. \201CWhat is 347+1286?\201D, and watch its KV cache on the right.";
  color: var(--muted); display: block; padding: 24px 0;
}
.msg { margin: 10px 0; }
.msg.user {
  background: var(--user-bg); border-radius: 12px; padding: 8px 12px; margin-left: 15%;
  white-space: pre-wrap;
}
.msg .who { font-size: 12px; color: var(--muted); margin-bottom: 2px; }
details.reasoning {
  background: var(--reason-bg); border-left: 3px solid var(--reason-line);
  border-radius: 6px; padding: 4px 10px; margin: 4px 0 8px;
}
details.reasoning summary { cursor: pointer; color: var(--reason-line); font-size: 13px; font-weight: 600; }
.reasoning-text {
  font: 13px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  color: var(--muted); white-space: pre-wrap; margin: 4px 0 2px;
}
.answer { white-space: pre-wrap; }
.answer:empty { display: none; }
.meta { font-size: 12px; color: var(--muted); margin-top: 4px; }
.error { color: var(--danger); }
form#chat { border-top: 1px solid var(--line); padding: 10px 16px 14px; }
fieldset { border: 0; margin: 0 0 8px; padding: 0; display: flex; flex-wrap: wrap; gap: 8px 12px; }
fieldset legend { font-size: 12px; color: var(--muted); padding: 0; margin-bottom: 4px; }
.field { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
.field select, .field input {
  width: 118px; padding: 4px 6px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--panel);
}
.field input[type="number"] { width: 90px; }
.compose { display: flex; gap: 8px; align-items: flex-end; }
.compose textarea {
  flex: 1; resize: vertical; min-height: 42px; max-height: 200px; padding: 8px 10px;
  border: 1px solid var(--line); border-radius: 8px; background: var(--panel);
}
.hint { margin: 6px 0 0; font-size: 12px; color: var(--muted); }
#kv-body { flex: 1; overflow-y: auto; padding: 0 16px 12px; min-height: 0; }
.engine { display: grid; grid-template-columns: repeat(4, auto); gap: 4px 18px; margin-bottom: 10px; }
.engine .stat { display: flex; flex-direction: column; }
.engine .stat b { font-size: 20px; font-variant-numeric: tabular-nums; }
.engine .stat span { font-size: 12px; color: var(--muted); }
.usage-bar { height: 6px; background: var(--line); border-radius: 3px; overflow: hidden; margin-top: 4px; }
.usage-bar > div { height: 100%; background: var(--accent); width: 0; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 12px; color: var(--muted); margin: 6px 0 12px; }
.legend .item { display: inline-flex; align-items: center; gap: 5px; flex-wrap: wrap; }
.legend .sw { width: 14px; height: 14px; border-radius: 3px; display: inline-block; }
.legend .scale { display: inline-flex; gap: 2px; }
.legend .scale .sw { width: auto; height: 16px; padding: 0 5px; font-size: 10px; line-height: 16px; }
#kv-empty { color: var(--muted); font-size: 14px; padding: 12px 0; }
.req { border: 1px solid var(--line); border-radius: 10px; padding: 8px 10px; margin-bottom: 10px; }
.req.mine { border-color: var(--accent); }
.req.finished { opacity: .72; }
.req-head { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; font-size: 13px; }
.req-head .name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 60%; }
.req-head .state { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
.req-head .state.running { color: #2f9e44; }
.req-stats { font-size: 12px; color: var(--muted); margin: 2px 0 6px; font-variant-numeric: tabular-nums; }
.req-stats b { color: var(--ink); font-weight: 600; }
.strip { display: flex; flex-wrap: wrap; gap: 3px; align-items: stretch; }
.kv-cell {
  height: 34px; border-radius: 3px; position: relative; flex: none;
  border: 1px solid rgba(0, 0, 0, .12);
}
.kv-cell.open { border: 2px dashed var(--ink); }
.kv-cell.shared::after {
  content: ""; position: absolute; inset: 0; border-radius: 2px;
  background: repeating-linear-gradient(135deg, rgba(255,255,255,.55) 0 3px, transparent 3px 7px);
}
.kv-cell.demoted { box-shadow: inset 0 -5px 0 var(--demoted); }
.kv-cell .lbl {
  position: absolute; inset: 0; font-size: 10px; line-height: 32px; text-align: center;
  overflow: hidden; pointer-events: none;
}
@media (max-width: 900px) {
  main { grid-template-columns: 1fr; height: auto; }
  #log { max-height: 60vh; }
}
dialog { border: 1px solid var(--line); border-radius: 12px; background: var(--panel); color: var(--ink); }
dialog::backdrop { background: rgba(0, 0, 0, .35); }
#key-title { margin: 0; font-size: 16px; }
dialog form { display: flex; flex-direction: column; gap: 10px; min-width: 320px; }
dialog input { padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); }
dialog .row { display: flex; gap: 8px; justify-content: flex-end; }
`;
