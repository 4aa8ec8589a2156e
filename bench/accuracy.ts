/**
 * Task accuracy under each KV configuration: exact-match accuracy of the model's answers on its
 * held-out problems (heldout.jsonl beside the weights), run through phasekv's own engine, with
 * the KV bits per element the engine measured (scale bytes included) and the think share of the
 * generated tokens.
 *
 *   deno task bench:accuracy [--model DIR] [--problems FILE] [--n N] [--configs LIST]
 *                            [--recent-tokens LIST] [--block-size N] [--weights LIST] [--json]
 *
 * LIST is a comma list of configuration names (bench/accuracy_configs.ts): a dtype (`int4`,
 * every phase), `phase=dtype` pairs joined by `+` (`think=int4+answer=int8`, other phases f16),
 * or `calibrated` (the model's phasekv.profile.json; skipped with a note when absent). Every
 * quantized configuration runs once per recent window in `--recent-tokens`; f16 runs once (a
 * window changes nothing there) and every other row is paired with it on the same problems.
 * The --weights LIST (default `f16`) of weight dtypes (`--weights-dtype`) runs all of that once
 * per dtype; rows pair with the first f16 row (f16 KV over the first weight dtype).
 * Prints a markdown table on stdout and progress on stderr; with --json the last stdout line is
 * one JSON array of rows {config, weights, recent_tokens, prompt, think, answer,
 * bits_per_element, bytes_per_token, accuracy, n, correct, think_fraction, seconds, paired,
 * outcomes} (a skipped row has nulls and a `note`).
 * @module
 */
import { flag, FlagError, parseFlags, usageText } from "../src/config/flag_parser.ts";
import { integer, MODEL_FLAGS, text, toggle } from "../src/config/flags.ts";
import { DEFAULT_RECENT_TOKENS } from "../src/kv/block_table.ts";
import { loadProfile } from "../src/kv/profile.ts";
import { resolvePhasePolicy } from "../src/kv/policy.ts";
import type { Phase } from "../src/kv/types.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { weightsDtypeSchema } from "../src/model/weights_dtype.ts";
import {
  BASE_DTYPE,
  CALIBRATED,
  DEFAULT_CONFIGS,
  type KvConfig,
  parseConfigList,
} from "./accuracy_configs.ts";
import { encodePrompts, type RunSettings, solveAll, startEngine } from "./accuracy_run.ts";
import { type HeldoutProblem, parseHeldout, summarize } from "./accuracy_score.ts";
import { pairedDifference } from "../src/taqg/paired.ts";
import { formatTable, type JsonRow, jsonRows, type Row, skippedRow } from "./accuracy_table.ts";

const FLAGS = {
  ...MODEL_FLAGS,
  problems: flag(text.optional(), "problems in heldout.jsonl's format", {
    value: "FILE",
    defaultText: "DIR/heldout.jsonl",
  }),
  n: flag(integer(1).default(500), "the first N problems", { value: "N" }),
  configs: flag(
    text.default(DEFAULT_CONFIGS.join(",")),
    "comma list: f16, int4, think=int4+answer=int3, calibrated, ...",
    { value: "LIST" },
  ),
  weights: flag(
    text.default("f16"),
    "comma list of weight dtypes (--weights-dtype) to run everything under",
    { value: "LIST" },
  ),
  "recent-tokens": flag(
    text.default(String(DEFAULT_RECENT_TOKENS)),
    "comma list of recent windows in tokens",
    { value: "LIST" },
  ),
  "block-size": flag(integer(1).default(16), "tokens per KV block, every row", { value: "N" }),
  baseline: flag(
    text.optional(),
    "pair with the f16 row of an earlier --json run (same problems and n) instead of running f16 again",
    { value: "FILE" },
  ),
  json: flag(toggle, "print the rows as one JSON array on the last stdout line"),
};
const HELP = usageText(
  "deno task bench:accuracy [options]",
  FLAGS,
  "Exact-match accuracy of a model's answers under each KV configuration, through the engine.",
);

const DEFAULT_MODEL = new URL("../models/phasekv-tiny-reasoner", import.meta.url).pathname;
const SETTINGS: Omit<RunSettings, "maxTokens"> = {
  maxNumSeqs: 64,
  maxNumBatchedTokens: 1024,
  kvCacheMemory: 64 * 2 ** 20,
};
// generated tokens allowed beyond the longest reference completion, so a slightly longer wrong
// trace still reaches its answer and is scored rather than cut
const MAX_TOKENS_SLACK = 16;

function progress(name: string, n: number): (done: number) => void {
  const tty = Deno.stderr.isTerminal();
  const step = Math.max(1, Math.round(n / 10));
  return (done) => {
    if (tty) Deno.stderr.writeSync(new TextEncoder().encode(`\r${name}: ${done}/${n}`));
    else if (done % step === 0 || done === n) console.error(`${name}: ${done}/${n}`);
    if (tty && done === n) console.error();
  };
}

async function runConfig(
  model: string,
  config: KvConfig,
  dtypes: Record<Phase, string>,
  problems: readonly HeldoutProblem[],
  settings: RunSettings,
): Promise<Row> {
  console.error(`${config.name}: loading the engine`);
  const engine = await startEngine(model, config, settings);
  const label = `${config.name} R=${settings.recentTokens ?? "default"}`;
  try {
    const prompts = encodePrompts(engine, problems);
    const t0 = performance.now();
    const results = await solveAll(
      engine,
      problems,
      prompts,
      settings,
      progress(label, problems.length),
    );
    const seconds = (performance.now() - t0) / 1000;
    const s = summarize(results);
    console.error(
      `${label} (${settings.weightsDtype ?? "f16"} weights): accuracy ${
        (100 * s.accuracy).toFixed(1)
      }% in ${seconds.toFixed(1)} s`,
    );
    return {
      config: config.name,
      weights: settings.weightsDtype ?? "f16",
      recent_tokens: settings.recentTokens ?? null,
      dtypes,
      bits_per_element: s.bitsPerElement,
      bytes_per_token: s.bytesPerToken,
      accuracy: s.accuracy,
      n: s.n,
      correct: s.correct,
      think_fraction: s.thinkFraction,
      seconds,
      paired: null,
      outcomes: s.outcomes.map((c) => c ? "1" : "0").join(""),
    };
  } finally {
    await engine.close();
  }
}

/** Fails when the weights changed since `stamp`: a training run exporting into the folder
 * mid-bench would mix checkpoints across rows. */
async function weightsStamp(model: string, stamp?: number): Promise<number | undefined> {
  const now = (await Deno.stat(`${model}/model.safetensors`)).mtime?.getTime();
  if (stamp !== undefined && now !== stamp) {
    throw new Error(`${model}/model.safetensors changed during the run; rerun when it is final`);
  }
  return now;
}

/** The first `n` problems of `file` and the settings sized for their longest reference trace. */
async function loadProblems(model: string, file: string, n: number) {
  const all = parseHeldout(await Deno.readTextFile(file));
  const problems = all.slice(0, n);
  if (problems.length < n) {
    console.error(`${file} holds only ${all.length} problems`);
  }
  const tokenizer = await loadTokenizer(model);
  const longest = Math.max(
    ...problems.map((p) => tokenizer.encode(p.completion, { addSpecialTokens: false }).length),
  );
  // +1: the end-of-sequence token that finishes a reference completion
  const settings: RunSettings = { ...SETTINGS, maxTokens: longest + 1 + MAX_TOKENS_SLACK };
  return { problems, settings };
}

async function main(): Promise<void> {
  let values;
  try {
    values = parseFlags(FLAGS, Deno.args);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    console.error(`bench:accuracy: ${e.message}\n\n${HELP}`);
    Deno.exitCode = 2;
    return;
  }
  if (!values) return console.log(HELP);
  const model = values.model ?? DEFAULT_MODEL;
  const n = values.n;
  const windows = parseWindows(values.recentTokens);
  const configs = parseConfigList(values.configs);
  const weightsList = values.weights.split(",").map((w) => weightsDtypeSchema.parse(w.trim()));
  const file = values.problems ?? `${model}/heldout.jsonl`;
  const loaded = await loadProblems(model, file, n);
  const problems = loaded.problems;
  const settings: RunSettings = { ...loaded.settings, blockSize: values.blockSize };
  // every row is paired with f16 on the same problems: from an earlier run, or run first
  const baseline = values.baseline ? await readBaseline(values.baseline, problems.length) : null;
  if (!baseline && !configs.some((c) => c.name === "f16")) {
    configs.unshift(parseConfigList("f16")[0]);
  }
  console.error(`${problems.length} problems, max_tokens ${settings.maxTokens}`);
  const profile = await loadProfile(model);
  const stamp = await weightsStamp(model);
  const rows: Row[] = [];
  for (const weightsDtype of weightsList) {
    for (const config of configs) {
      if (config.name === CALIBRATED && !profile) {
        const note = `skipped: ${model} has no phasekv.profile.json`;
        rows.push(skippedRow(config.name, note, weightsDtype));
        continue;
      }
      // what the engine resolves the profile to, shown in the row
      const dtypes = config.dtypes ?? resolvePhasePolicy({}, profile);
      // a window changes nothing where every phase is f16
      const all16 = Object.values(dtypes).every((d) => d === BASE_DTYPE);
      for (const recentTokens of all16 ? windows.slice(0, 1) : windows) {
        const run = { ...settings, recentTokens, weightsDtype };
        rows.push(await runConfig(model, config, dtypes, problems, run));
        await weightsStamp(model, stamp);
      }
    }
  }
  if (baseline) rows.unshift(baseline);
  const f16 = rows.find((r) => r.config === "f16" && r.accuracy !== null);
  for (const r of rows) {
    if (r === f16 || !f16 || r.accuracy === null) continue;
    r.paired = pairedDifference(
      [...r.outcomes].map((c) => c === "1"),
      [...f16.outcomes].map((c) => c === "1"),
    );
  }
  console.log(
    `model: ${model}, problems: ${file} (first ${problems.length}), max_tokens ${settings.maxTokens}, ${settings.blockSize}-token blocks, greedy\n`,
  );
  console.log(formatTable(rows));
  if (values.json) {
    console.log(JSON.stringify(jsonRows(rows)));
  }
}

/**
 * The f16 row of an earlier `--json` run on the same first `n` problems (a file holding its JSON
 * array, or the whole output whose last line is the array), so a new row pairs with it.
 */
async function readBaseline(path: string, n: number): Promise<Row> {
  const lines = (await Deno.readTextFile(path)).trim().split("\n");
  const rows = JSON.parse(lines[lines.length - 1]) as JsonRow[];
  const f16 = rows.find((r) => r.config === "f16" && r.outcomes?.length === n);
  if (!f16) throw new RangeError(`--baseline ${path} has no f16 row on ${n} problems`);
  const { prompt, think, answer, ...rest } = f16;
  return {
    ...rest,
    dtypes: { prompt: prompt!, think: think!, answer: answer! },
    note: `f16 row read from ${path}`,
  };
}

/** Parses a comma list of recent windows (non-negative token counts). */
function parseWindows(list: string): number[] {
  const windows = list.split(",").filter((s) => s.trim() !== "").map(Number);
  if (windows.length === 0 || windows.some((w) => !Number.isInteger(w) || w < 0)) {
    throw new RangeError(`--recent-tokens expects a comma list of non-negative integers: ${list}`);
  }
  return windows;
}

if (import.meta.main) await main();
