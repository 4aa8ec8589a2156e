/**
 * The playground's script, plain browser JavaScript in a string (no build step; works when the
 * package is imported from JSR). It streams chats from /v1/chat/completions and polls /v1/kv to
 * draw each running request's blocks: colour by phase, shade by dtype, width by bytes.
 * @module
 */

/** The playground's script (no template literals inside, so it can live in this string). */
export const PLAYGROUND_JS: string = String.raw`
"use strict";
(function () {
  var CONFIG = JSON.parse(document.getElementById("playground-config").textContent);
  var BITS = {};
  CONFIG.dtypes.forEach(function (d) { BITS[d.name] = d.bits; });
  var KEY_STORE = "phasekv.apiKey";
  var POLL_MS = 250;
  var POLL_BUSY_MS = 120;     // while this tab streams: the default model answers in ~1 s
  var POLL_HIDDEN_MS = 2000;
  var KEEP_FINISHED = 3;      // finished requests whose last map stays on screen
  var CELL_MIN_PX = 28, CELL_MAX_PX = 120;  // width of an f16 block; others scale by bytes
  var GAP_PX = 3;

  var $ = function (id) { return document.getElementById(id); };
  var log = $("log"), form = $("chat"), prompt = $("prompt");
  var sendBtn = $("send"), stopBtn = $("stop"), clearBtn = $("clear");
  var statusEl = $("status");
  var apiKey = sessionStorage.getItem(KEY_STORE) || "";
  var history = [];           // {role, content} of finished turns
  var current = null;         // the streaming request: {controller, id, label}
  var mine = new Map();       // response id -> label, for the KV panel
  var tracked = new Map();    // request id -> {blocks, finished, order, label}
  var order = 0;
  var blockSize = 1;          // largest token count seen in a block: the block size, soon enough
  var dtypeBytes = {};        // bytes of one block of each dtype, as /v1/kv reported them
  var f16BlockBytes = null;
  var lastKv = null;
  var aliases = new Map();    // engine request id -> response id, when /v1/kv uses other ids          // the last /v1/kv body, to redraw when a final map arrives

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function authHeaders(json) {
    var h = {};
    if (json) h["content-type"] = "application/json";
    if (apiKey) h.authorization = "Bearer " + apiKey;
    return h;
  }
  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }
  function fmtBytes(n) {
    if (n < 1024) return Math.round(n) + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    if (n < 1073741824) return (n / 1048576).toFixed(1) + " MiB";
    return (n / 1073741824).toFixed(2) + " GiB";
  }
  function cssNum(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  // darker for more bits: f16 at 34% lightness up to 2 bits at 80%
  function lightness(dtype) {
    var bits = BITS[dtype] || 16;
    return 34 + (16 - Math.min(16, bits)) * (46 / 14);
  }
  function colour(phase, dtype) {
    var hue = cssNum("--hue-" + phase) || "0";
    return "hsl(" + hue + " " + cssNum("--sat") + " " + lightness(dtype).toFixed(0) + "%)";
  }
  function labelInk(dtype) {
    return lightness(dtype) > 56 ? "rgba(16, 20, 32, .8)" : "rgba(255, 255, 255, .95)";
  }

  // ---- API key ----
  var dialog = $("key-dialog"), keyInput = $("key-input");
  function askKey() {
    keyInput.value = apiKey;
    if (!dialog.open) dialog.showModal();
    keyInput.focus();
  }
  $("key-button").addEventListener("click", askKey);
  $("key-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    apiKey = keyInput.value.trim();
    if (apiKey) sessionStorage.setItem(KEY_STORE, apiKey);
    else sessionStorage.removeItem(KEY_STORE);
    dialog.close();
    prompt.focus();
    checkModel();
  });
  $("key-forget").addEventListener("click", function () {
    apiKey = "";
    sessionStorage.removeItem(KEY_STORE);
    keyInput.value = "";
    dialog.close();
  });

  // ---- server status ----
  var model = null;
  function checkModel() {
    fetch("/v1/models", { headers: authHeaders(false) }).then(function (res) {
      if (res.status === 401) { setStatus("error", "API key needed"); askKey(); return null; }
      if (res.status === 503) { setStatus("loading", "model loading…"); setTimeout(checkModel, 1000); return null; }
      if (!res.ok) throw new Error("GET /v1/models: " + res.status);
      return res.json();
    }).then(function (body) {
      if (!body) return;
      model = body.data[0].id;
      setStatus("ready", model + " · context " + body.data[0].max_model_len);
    }).catch(function (err) {
      setStatus("error", String(err.message || err));
      setTimeout(checkModel, 2000);
    });
  }

  // ---- chat ----
  function numberField(id) {
    var v = $(id).value.trim();
    return v === "" ? undefined : Number(v);
  }
  function requestBody(text) {
    var messages = $("history").value === "all" ? history.slice() : [];
    messages.push({ role: "user", content: text });
    var body = {
      messages: messages,
      stream: true,
      stream_options: { include_usage: true },
      temperature: numberField("temperature"),
      max_tokens: numberField("max-tokens"),
      max_think_tokens: numberField("max-think"),
      kv_cache_dtype_think: $("think-dtype").value || undefined,
      kv_cache_dtype_answer: $("answer-dtype").value || undefined,
    };
    if (model) body.model = model;
    return body;
  }
  function scrollLog() {
    var near = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    if (near) log.scrollTop = log.scrollHeight;
  }
  function addUser(text) {
    var m = el("div", "msg user");
    m.appendChild(el("span", "sr-only", "You: "));
    m.appendChild(document.createTextNode(text));
    log.appendChild(m);
    log.scrollTop = log.scrollHeight;
  }
  function addAssistant() {
    var m = el("article", "msg assistant");
    m.setAttribute("aria-busy", "true");
    m.appendChild(el("div", "who", "assistant"));
    var details = el("details", "reasoning");
    details.open = true;
    details.hidden = true;
    var summary = el("summary", "", "Thinking…");
    details.appendChild(summary);
    var reasoning = el("div", "reasoning-text");
    details.appendChild(reasoning);
    m.appendChild(details);
    var answer = el("div", "answer");
    m.appendChild(answer);
    var meta = el("div", "meta");
    m.appendChild(meta);
    log.appendChild(m);
    return { root: m, details: details, summary: summary, reasoning: reasoning, answer: answer, meta: meta };
  }
  function setRunning(on) {
    sendBtn.disabled = on;
    stopBtn.disabled = !on;
  }
  function apiError(res) {
    return res.text().then(function (text) {
      var msg = text;
      try { msg = JSON.parse(text).error.message; } catch (_) { /* not JSON */ }
      var err = new Error(res.status + ": " + msg);
      err.status = res.status;
      return err;
    });
  }

  function send(text) {
    var body = requestBody(text);
    addUser(text);
    var view = addAssistant();
    var controller = new AbortController();
    var label = text.length > 40 ? text.slice(0, 39) + "…" : text;
    current = { controller: controller, id: null, label: label, since: order };
    setRunning(true);
    var reasoningText = "", answerText = "", usage = null, finish = null;
    var reasoningTokens = 0;

    function onChunk(chunk) {
      if (chunk.id && !current.id) {
        current.id = chunk.id;
        mine.set(chunk.id, label);
        view.root.dataset.responseId = chunk.id;
      }
      if (chunk.usage) usage = chunk.usage;
      var choice = chunk.choices && chunk.choices[0];
      if (!choice) return;
      var d = choice.delta || {};
      var r = d.reasoning_content != null ? d.reasoning_content : d.reasoning;
      if (r) {
        reasoningText += r;
        reasoningTokens++;
        view.details.hidden = false;
        view.reasoning.textContent = reasoningText.trim();
      }
      if (d.content) {
        answerText += d.content;
        view.answer.textContent = answerText.trim();
        view.summary.textContent = "Reasoning";
      }
      if (choice.finish_reason) finish = choice.finish_reason;
      scrollLog();
    }

    fetch("/v1/chat/completions", {
      method: "POST",
      headers: authHeaders(true),
      body: JSON.stringify(body),
      signal: controller.signal,
    }).then(function (res) {
      if (!res.ok) return apiError(res).then(function (err) { throw err; });
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (step) {
          if (step.done) return;
          buffer += decoder.decode(step.value, { stream: true });
          var events = buffer.split(/\r?\n\r?\n/);
          buffer = events.pop();
          for (var i = 0; i < events.length; i++) {
            var lines = events[i].split(/\r?\n/);
            for (var j = 0; j < lines.length; j++) {
              if (lines[j].indexOf("data:") !== 0) continue;
              var data = lines[j].slice(5).trim();
              if (data === "[DONE]") continue;
              var chunk = JSON.parse(data);
              if (chunk.error) throw new Error(chunk.error.message);
              onChunk(chunk);
            }
          }
          return pump();
        });
      }
      return pump();
    }).then(function () {
      history.push({ role: "user", content: text }, { role: "assistant", content: answerText });
      view.meta.textContent = describeUsage(usage, finish);
      if (usage && usage.kv && current.id) showFinalMap(current, usage.kv.phases);
    }).catch(function (err) {
      if (err.name === "AbortError") {
        view.meta.textContent = "stopped";
        return;
      }
      if (err.status === 401) askKey();
      var e = el("div", "error", String(err.message || err));
      e.setAttribute("role", "alert");
      view.root.appendChild(e);
    }).finally(function () {
      if (reasoningText) {
        view.summary.textContent = "Reasoning (" + (usage ? usage.completion_tokens_details.reasoning_tokens : reasoningTokens) + " tokens)";
      }
      view.root.setAttribute("aria-busy", "false");
      current = null;
      setRunning(false);
      scrollLog();
    });
  }
  function describeUsage(usage, finish) {
    if (!usage) return finish ? "finished: " + finish : "";
    var parts = [usage.prompt_tokens + " prompt + " + usage.completion_tokens + " completion tokens"];
    if (usage.kv && usage.kv.bytes_per_token) {
      parts.push("KV " + Math.round(usage.kv.bytes_per_token) + " B/token (" + usage.kv.bits_per_element.toFixed(1) + " bits/element)");
    }
    if (finish) parts.push("finished: " + finish);
    return parts.join(" · ");
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = prompt.value.trim();
    if (!text || current) return;
    prompt.value = "";
    send(text);
  });
  prompt.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    } else if (ev.key === "Escape" && current) {
      ev.preventDefault();
      current.controller.abort();
    }
  });
  stopBtn.addEventListener("click", function () {
    if (current) current.controller.abort();
    prompt.focus();
  });
  clearBtn.addEventListener("click", function () {
    if (current) current.controller.abort();
    history = [];
    log.textContent = "";
    prompt.focus();
  });

  // ---- KV panel ----
  var requestsEl = $("kv-requests"), emptyEl = $("kv-empty");
  var EMPTY_TEXT = emptyEl.textContent;
  function buildLegend() {
    var legend = $("legend");
    CONFIG.phases.forEach(function (phase) {
      var item = el("span", "item");
      var sw = el("span", "sw");
      sw.style.background = colour(phase, "f16");
      item.appendChild(sw);
      item.appendChild(document.createTextNode(phase));
      legend.appendChild(item);
    });
    var scale = el("span", "item");
    var boxes = el("span", "scale");
    CONFIG.dtypes.forEach(function (d) {
      var sw = el("span", "sw", d.name);
      sw.style.background = colour("think", d.name);
      sw.style.color = labelInk(d.name);
      sw.title = d.name;
      boxes.appendChild(sw);
    });
    scale.appendChild(boxes);
    scale.appendChild(document.createTextNode("darker holds more bits"));
    legend.appendChild(scale);
    legend.appendChild(el("span", "item", "fill: tokens in the block · width: its bytes"));
    [["open", "open (f16, taking tokens)"], ["shared", "shared prefix"], ["demoted", "demoted"]].forEach(function (m) {
      var item = el("span", "item");
      var sw = el("span", "sw kv-cell " + m[0]);
      sw.style.background = colour("think", "int8");
      sw.style.height = "14px";
      item.appendChild(sw);
      item.appendChild(document.createTextNode(m[1]));
      legend.appendChild(item);
    });
  }

  function blockBytes(b) {
    if (typeof b.bytes === "number") return b.bytes;
    return (BITS[b.dtype] || 16) / 16;  // relative width when the server does not say
  }
  function f16Bytes(b) {
    if (typeof b.f16_bytes === "number") return b.f16_bytes;
    return typeof b.bytes === "number" ? null : 1;
  }
  function summarize(blocks) {
    var tokens = 0, bytes = 0, f16 = 0, exact = true;
    var byPhase = {};
    blocks.forEach(function (b) {
      tokens += b.tokens;
      bytes += blockBytes(b);
      var f = f16Bytes(b);
      if (f === null) exact = false; else f16 += f;
      var p = byPhase[b.phase] = byPhase[b.phase] || {};
      p[b.dtype] = (p[b.dtype] || 0) + 1;
    });
    return { tokens: tokens, bytes: bytes, f16: f16, exact: exact && blocks.length > 0 && typeof blocks[0].bytes === "number", byPhase: byPhase };
  }
  function describeBlocks(s) {
    return Object.keys(s.byPhase).map(function (phase) {
      return phase + ": " + Object.keys(s.byPhase[phase]).map(function (dt) {
        return s.byPhase[phase][dt] + " " + dt;
      }).join(", ");
    }).join("; ");
  }

  function f16Unit(blocks) {
    return blocks.reduce(function (m, b) { return Math.max(m, f16Bytes(b) || 0); }, 0) || 1;
  }
  // one scale for every map, as wide as lets the longest fit on one line, or on two (with room
  // for what wrapping wastes) when one would make the cells too thin for their labels
  function cellScale(entries) {
    var width = requestsEl.clientWidth - 24;
    function fit(lines) {
      var px = CELL_MAX_PX;
      entries.forEach(function (e) {
        var unit = f16Unit(e.blocks);
        var units = e.blocks.reduce(function (sum, b) { return sum + blockBytes(b) / unit; }, 0);
        if (units > 0) px = Math.min(px, (lines * width * 0.92 - GAP_PX * e.blocks.length) / units);
      });
      return px;
    }
    var px = fit(1);
    if (px < 48) px = fit(2);
    return Math.max(CELL_MIN_PX, Math.floor(px));
  }

  function renderRequest(id, entry, cellPx) {
    var s = summarize(entry.blocks);
    var box = el("div", "req" + (entry.label ? " mine" : "") + (entry.finished ? " finished" : "") + (entry.final ? " final" : ""));
    box.dataset.requestId = id;
    box.setAttribute("role", "listitem");
    var head = el("div", "req-head");
    var name = el("span", "name", entry.label ? "\u201C" + entry.label + "\u201D" : id);
    name.title = id;
    head.appendChild(name);
    var state = entry.final ? "finished · final map" : entry.finished ? "finished · last seen" : "running";
    head.appendChild(el("span", "state" + (entry.finished ? "" : " running"), state));
    box.appendChild(head);
    var stats = el("div", "req-stats");
    var text = s.tokens + " tokens in " + entry.blocks.length + " blocks";
    stats.appendChild(document.createTextNode(text));
    if (s.exact && s.tokens > 0) {
      stats.appendChild(document.createTextNode(" · "));
      stats.appendChild(el("b", "", Math.round(s.bytes / s.tokens) + " B/token"));
      var saved = 1 - s.bytes / s.f16;
      stats.appendChild(document.createTextNode(" vs " + Math.round(s.f16 / s.tokens) + " at f16 (" +
        (saved >= 0 ? Math.round(saved * 100) + "% less" : Math.round(-saved * 100) + "% more") + ") · " + fmtBytes(s.bytes)));
    }
    box.appendChild(stats);
    var strip = el("div", "strip");
    strip.setAttribute("role", "img");
    strip.setAttribute("aria-label", "Blocks in order: " + describeBlocks(s));
    var unit = f16Unit(entry.blocks);
    entry.blocks.forEach(function (b, i) {
      var cls = "kv-cell";
      if (b.open) cls += " open";
      if (b.shared) cls += " shared";
      if (b.demoted) cls += " demoted";
      var cell = el("div", cls);
      cell.dataset.phase = b.phase;
      cell.dataset.dtype = b.dtype;
      var width = Math.max(4, cellPx * blockBytes(b) / unit);
      cell.style.width = width.toFixed(1) + "px";
      var c = colour(b.phase, b.dtype);
      var fill = Math.min(1, b.tokens / blockSize);
      // a partly filled block shows its fill from the bottom up
      cell.style.background = fill >= 1 ? c
        : "linear-gradient(to top, " + c + " " + (fill * 100).toFixed(0) + "%, transparent " + (fill * 100).toFixed(0) + "%)";
      var flags = [b.open && "open", b.shared && "shared", b.demoted && "demoted"].filter(Boolean);
      cell.title = "#" + i + " " + b.phase + " · " + b.dtype + " · " + b.tokens + " tokens" +
        (typeof b.bytes === "number" ? " · " + fmtBytes(b.bytes) : "") + (flags.length ? " · " + flags.join(", ") : "");
      // the name where it fits, else its bits ("4" for int4); the legend and tooltip say the rest
      var name = width >= 26 ? b.dtype : width >= 12 ? b.dtype.replace(/^[a-z]+/, "") : "";
      if (name) {
        var lbl = el("span", "lbl", name);
        // on a mostly empty block the label stands on the panel, not on the colour
        lbl.style.color = fill < 0.6 ? "var(--muted)" : labelInk(b.dtype);
        cell.appendChild(lbl);
      }
      strip.appendChild(cell);
    });
    box.appendChild(strip);
    return box;
  }

  // The request's blocks when it finished, from its usage.kv: the live map of a short request
  // may miss its last blocks between two polls. Phases in order; within a phase, full blocks
  // first and the still-f16 ones (open, or in the recent window) last, as the block table has them.
  function showFinalMap(req, phases) {
    var blocks = [];
    CONFIG.phases.forEach(function (phase) {
      var u = phases[phase];
      if (!u || !u.blocks) return;
      var dtypes = Object.keys(u.dtypes).sort(function (a, b) { return (a === "f16") - (b === "f16"); });
      var left = u.tokens;
      dtypes.forEach(function (dtype) {
        for (var i = 0; i < u.dtypes[dtype]; i++) {
          var tokens = Math.min(blockSize, left);
          left -= tokens;
          var b = { phase: phase, dtype: dtype, tokens: tokens };
          if (dtypeBytes[dtype] != null && f16BlockBytes != null) {
            b.bytes = dtypeBytes[dtype];
            b.f16_bytes = f16BlockBytes;
          }
          blocks.push(b);
        }
      });
    });
    var entry = tracked.get(req.id);
    if (!entry) {
      // ids differ (an engine id on /v1/kv): the one request first seen while this chat ran is it
      var candidates = Array.from(tracked.keys()).filter(function (id) {
        var t = tracked.get(id);
        return !t.label && t.order >= req.since;
      });
      var order0 = order++;
      if (candidates.length === 1) {
        order0 = tracked.get(candidates[0]).order;
        tracked.delete(candidates[0]);
        aliases.set(candidates[0], req.id);
      }
      entry = { order: order0 };
      tracked.set(req.id, entry);
    }
    entry.blocks = blocks;
    entry.finished = true;
    entry.final = true;
    entry.label = req.label;
    if (lastKv) renderKv(lastKv);
  }

  function renderKv(body) {
    lastKv = body;
    $("num-running").textContent = body.num_running != null ? body.num_running : body.data.length;
    $("num-waiting").textContent = body.num_waiting != null ? body.num_waiting : "–";
    var perc = body.kv_cache_usage_perc * 100;
    $("kv-usage").textContent = (perc < 10 ? perc.toFixed(2) : perc.toFixed(1)) + "%";
    $("kv-usage").title = fmtBytes(body.kv_cache_usage_perc * body.kv_budget_bytes) + " of " + fmtBytes(body.kv_budget_bytes);
    var meter = $("kv-meter");
    meter.setAttribute("aria-valuenow", perc.toFixed(1));
    meter.firstElementChild.style.width = Math.min(100, perc) + "%";

    var live = new Set();
    body.data.forEach(function (entry) {
      var id = aliases.get(entry.request_id) || entry.request_id;
      live.add(id);
      entry.blocks.forEach(function (b) { blockSize = Math.max(blockSize, b.tokens); });
      var t = tracked.get(id);
      if (!t) { t = { order: order++ }; tracked.set(id, t); }
      if (t.final) return;  // its final map came with its usage; a late snapshot is older
      t.blocks = entry.blocks;
      t.finished = false;
      t.label = mine.get(id) || null;
    });
    tracked.forEach(function (t, id) { if (!live.has(id)) t.finished = true; });
    body.data.forEach(function (e) {
      e.blocks.forEach(function (b) {
        if (typeof b.bytes === "number") dtypeBytes[b.dtype] = b.bytes;
        if (typeof b.f16_bytes === "number") f16BlockBytes = b.f16_bytes;
      });
    });
    var ids = Array.from(tracked.keys()).sort(function (a, b) {
      var ta = tracked.get(a), tb = tracked.get(b);
      if (ta.finished !== tb.finished) return ta.finished ? 1 : -1;
      return tb.order - ta.order;
    });
    var finished = ids.filter(function (id) { return tracked.get(id).finished; });
    finished.slice(KEEP_FINISHED).forEach(function (id) { tracked.delete(id); });
    ids = ids.filter(function (id) { return tracked.has(id); });

    // overall bytes per token over the running requests
    var all = [];
    body.data.forEach(function (e) { all = all.concat(e.blocks); });
    var s = summarize(all);
    if (s.exact && s.tokens > 0) {
      $("kv-bpt").textContent = Math.round(s.bytes / s.tokens);
      $("kv-bpt-note").textContent = "B/token now (f16: " + Math.round(s.f16 / s.tokens) + ")";
    } else if (!all.length) {
      $("kv-bpt").textContent = "–";
      $("kv-bpt-note").textContent = "bytes per token";
    }

    var frag = document.createDocumentFragment();
    var px = cellScale(ids.map(function (id) { return tracked.get(id); }));
    ids.forEach(function (id) { frag.appendChild(renderRequest(id, tracked.get(id), px)); });
    requestsEl.replaceChildren(frag);
    requestsEl.setAttribute("role", ids.length ? "list" : "presentation");
    emptyEl.hidden = ids.length > 0;
  }

  var kvStatus = "";
  function pollKv() {
    fetch("/v1/kv", { headers: authHeaders(false) }).then(function (res) {
      if (res.status === 401) { kvStatus = "API key needed"; return null; }
      if (res.status === 503) { kvStatus = "model loading…"; return null; }
      if (!res.ok) throw new Error("GET /v1/kv: " + res.status);
      return res.json();
    }).then(function (body) {
      if (body) {
        emptyEl.textContent = EMPTY_TEXT;
        renderKv(body);
      } else {
        emptyEl.textContent = kvStatus;
        emptyEl.hidden = false;
      }
    }).catch(function (err) {
      emptyEl.textContent = String(err.message || err);
      emptyEl.hidden = false;
    }).finally(function () {
      setTimeout(pollKv, document.hidden ? POLL_HIDDEN_MS : current ? POLL_BUSY_MS : POLL_MS);
    });
  }

  buildLegend();
  checkModel();
  pollKv();
  prompt.focus();
})();
`;
