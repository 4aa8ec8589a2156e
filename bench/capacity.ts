/**
 * Capacity at a fixed KV budget: how many sequences run at once, how many are preempted and
 * recomputed, at what throughput and accuracy, for f16, int8, int4 (the only 4-bit dtype), the
 * calibrated profile, and the profile with demotion (the profile's measured `demotion` on the
 * default model's workloads, --kv-demotion's default on long_trace, whose checkpoint has no
 * profile; blocks are then sealed at the floor while memory is short). The budget of each
 * workload is the one in which f16 runs 4 sequences at once: 4 × the f16 bytes of its longest
 * sequence at its longest (prompt + max_tokens, in blocks: the prompt's, the output's, and the
 * partial block the think→answer change closes). --max-num-seqs (64) is never the limit.
 *
 *   deno task bench:capacity [--n N] [--chats N] [--trace-seqs N] [--trace-tokens N]
 *                            [--workloads LIST] [--admission-headroom F] [--json]
 *
 * Workloads: `concurrent` (the first N held-out problems of the default model, all at once),
 * `shared_prefix` (N two-turn chats to the default model sharing one long system prompt; turn
 * two is sent when turn one ends), `long_trace` (a random-weight checkpoint with R1-1.5B's KV
 * shape — 2 KV heads, head_dim 128 — but 2 layers and hidden 512, generating traces with
 * ignore_eos, think by the fraction rule; no accuracy). Greedy. Progress on stderr; a markdown
 * table on stdout; with --json the last stdout line is a JSON array of rows {workload, config,
 * demotion, mean_running, mean_running_saturated, saturated_steps, max_running, demoted_blocks,
 * preemptions, recomputed_tokens, tokens_per_s,
 * prefix_hit_rate, accuracy, n, shared_prefix_served, prefix_caching, same_output_as_miss,
 * budget_bytes, admission_headroom, seconds}. shared_prefix also runs f16 and the profile with the
 * prefix cache off, so that each hit can be compared with a miss.
 * @module
 */
import { parseArgs } from "node:util";
import { createEngine } from "../src/engine/engine.ts";
import type { EngineConfig } from "../src/engine/create_core.ts";
import type { EngineApi, GenerateOutput, GenerateRequest } from "../src/engine/types.ts";
import { kvDtype } from "../src/kv/dtype.ts";
import { DEFAULT_KV_DEMOTION } from "../src/kv/demotion_policy.ts";
import { blockSize, demotionSetting, type KvProfile, loadProfile } from "../src/kv/profile.ts";
import { DEFAULT_BLOCK_SIZE } from "../src/kv/block_table.ts";
import type { Phase } from "../src/kv/types.ts";
import { DEFAULT_MODEL_DIR } from "../src/server/flags.ts";
import { writeTinyCheckpoint } from "../tests/helpers/tiny_checkpoint.ts";
import { type HeldoutProblem, parseHeldout, scoreRequest } from "./accuracy_score.ts";

const MAX_NUM_SEQS = 64;
/** f16 blocks per slab: small, so the slab demotion keeps in reserve costs little. */
const SLAB_F16_BLOCKS = 2;
/** Generated-token cap of the default model's problems (its longest reference trace + slack). */
const PROBLEM_MAX_TOKENS = 93;
/**
 * long_trace's KV shape: DeepSeek-R1-Distill-Qwen-1.5B's (2 KV heads, head_dim 128) in 2 layers,
 * so every dtype's bytes per token, and the capacity, are R1-1.5B's per layer.
 */
const TRACE_LAYOUT = { numLayers: 2, numKvHeads: 2, headDim: 128 };
/** R1-Distill-Qwen-1.5B's KV shape, for the bits-per-element check in the report. */
export const R1_LAYOUT = { numKvHeads: 2, headDim: 128 };
const SYSTEM_PROMPT = "You add and subtract numbers. Work column by column from the right, " +
  "carry or borrow as needed, check each digit, then state the result in one line. ".repeat(3);

/** One row of the report. */
export interface CapacityRow {
  workload: string;
  config: string;
  demotion: boolean;
  mean_running: number;
  /**
   * Mean running over the steps after which a sequence still waited for room: the capacity of
   * the budget, free of the tail where a burst's last sequences run alone.
   */
  mean_running_saturated: number;
  /** Steps counted in mean_running_saturated. */
  saturated_steps: number;
  max_running: number;
  /** Blocks demoted (every phase and dtype). */
  demoted_blocks: number;
  preemptions: number;
  recomputed_tokens: number;
  tokens_per_s: number;
  prefix_hit_rate: number;
  accuracy: number | null;
  n: number;
  /** shared_prefix: prompt tokens served from cache over the shared system-prompt tokens sent. */
  shared_prefix_served: number | null;
  /** Whether the prefix cache was on. */
  prefix_caching: boolean;
  /**
   * shared_prefix, prefix cache on: the share of requests whose generated tokens equal those of
   * the same config with the cache off (hits read sealed prompt blocks a miss computed in f16).
   */
  same_output_as_miss: number | null;
  budget_bytes: number;
  /** `--admission-headroom` of the run (0: admit while the first chunk fits). */
  admission_headroom: number;
  seconds: number;
}

interface Config {
  name: string;
  dtypes: Record<Phase, string>;
  /** The recent window (the profile's); undefined: the engine's default. */
  recentTokens?: number;
  demotion: boolean;
  /** False: the same config with the prefix cache off (shared_prefix's miss baseline). */
  prefixCaching?: boolean;
}

interface Job {
  request: GenerateRequest;
  /** Expected answer (null: not scored). */
  answer: string | null;
  /** A follow-up built from this job's answer text, sent once it finishes. */
  next?: (answerText: string) => Job;
}

interface Workload {
  name: string;
  model: string;
  /** Tokens per KV block of every config. */
  blockSize: number;
  /** The demotion policy of the rows with demotion (`--kv-demotion`'s syntax). */
  demotion: string;
  layout: { numLayers: number; numKvHeads: number; headDim: number };
  jobs: (engine: EngineApi) => Job[];
  /** Prompt tokens all requests share (shared_prefix), else 0. */
  sharedTokens: (engine: EngineApi) => number;
  thinkFraction?: number;
}

const HELP = `deno task bench:capacity [options]
  --n N             concurrent: problems (default 48)
  --chats N         shared_prefix: two-turn chats (default 24)
  --trace-seqs N    long_trace: sequences (default 24)
  --trace-tokens N  long_trace: tokens each generates (default 2048)
  --workloads LIST  comma list of concurrent, shared_prefix, long_trace (default all)
  --configs LIST    comma list of f16, int8, int4, profile, profile+demotion (default all;
                    the × f16 columns need f16)
  --block-size N    tokens per KV block of every config (default: the default model's profile's
                    block_size, else 16, on concurrent and shared_prefix; 16 on long_trace)
  --admission-headroom F
                    share of each running request's KV growth to max_tokens kept free when
                    admitting, for every config (default 0: admit while the first chunk fits,
                    as vLLM; 1: reserve max_tokens, as TGI)
  --json            last stdout line: the rows as one JSON array`;

/** The configs of a workload; shared_prefix adds f16 and the profile with the cache off. */
function configs(profile: KvProfile, workload: string): Config[] {
  const all = (d: string) => ({ prompt: d, think: d, answer: d });
  const dtypes = {
    prompt: profile.phases.prompt ?? "f16",
    think: profile.phases.think ?? "f16",
    answer: profile.phases.answer ?? "f16",
  };
  // the profile's rows run at the profile's window, as the engine serves it
  const recentTokens = profile.recent_tokens;
  const list: Config[] = [
    { name: "f16", dtypes: all("f16"), demotion: false },
    { name: "int8", dtypes: all("int8"), demotion: false },
    { name: "int4", dtypes: all("int4"), demotion: false },
    { name: "profile", dtypes, recentTokens, demotion: false },
    { name: "profile", dtypes, recentTokens, demotion: true },
  ];
  if (workload === "shared_prefix") {
    list.push(
      { name: "f16", dtypes: all("f16"), demotion: false, prefixCaching: false },
      { name: "profile", dtypes, recentTokens, demotion: false, prefixCaching: false },
    );
  }
  return list;
}

/** Whether `--configs` (a comma list of names, `+demotion` for the rows with it) keeps `c`. */
function wanted(c: Config, list: string | undefined): boolean {
  if (list === undefined) return true;
  const names = list.split(",").map((s) => s.trim());
  return names.includes(c.demotion ? `${c.name}+demotion` : c.name);
}

/** Share of the keys of `a` whose token ids equal those in `b`. */
function sameShare(a: Map<string, number[]>, b: Map<string, number[]>): number {
  let same = 0;
  for (const [key, ids] of a) {
    const other = b.get(key);
    if (other && other.length === ids.length && other.every((t, i) => t === ids[i])) same++;
  }
  return a.size > 0 ? same / a.size : 0;
}

/** A row and the generated token ids of each request, keyed by chat and turn. */
interface RowRun {
  row: CapacityRow;
  outputs: Map<string, number[]>;
}

/** Runs config `c` on workload `w` in `budget` bytes, admitting with `headroom`. */
async function runRow(
  w: Workload,
  c: Config,
  budget: number,
  headroom: number,
): Promise<RowRun> {
  const f16Block = kvDtype("f16").blockBytes({ ...w.layout, blockSize: w.blockSize });
  const config: Partial<EngineConfig> = {
    kvCacheMemory: budget,
    kvSlabBytes: SLAB_F16_BLOCKS * f16Block,
    kvCacheDtype: c.dtypes.prompt,
    kvCacheDtypeThink: c.dtypes.think,
    kvCacheDtypeAnswer: c.dtypes.answer,
    kvDemotion: c.demotion ? w.demotion : "none",
    blockSize: w.blockSize,
    kvRecentTokens: c.recentTokens,
    maxNumSeqs: MAX_NUM_SEQS,
    maxNumBatchedTokens: 1024,
    maxWaiting: 4096,
    thinkFraction: w.thinkFraction,
    enablePrefixCaching: c.prefixCaching !== false,
    admissionHeadroom: headroom,
  };
  const engine = await createEngine({
    model: w.model,
    inProcess: true,
    kvProfile: "none",
    ...config,
  });
  try {
    const jobs = w.jobs(engine);
    const shared = w.sharedTokens(engine);
    let generated = 0, scored = 0, correct = 0, sent = 0;
    const tokens = new Map<string, number[]>();
    const start = performance.now();
    const run = async (job: Job, key: string): Promise<void> => {
      sent++;
      const outputs: GenerateOutput[] = [];
      for await (const o of engine.generate(job.request)) outputs.push(o);
      generated += outputs.reduce((n, o) => n + o.tokenIds.length, 0);
      tokens.set(key, outputs.flatMap((o) => o.tokenIds));
      if (job.answer !== null) {
        scored++;
        if (scoreRequest(outputs, job.answer).correct) correct++;
      }
      if (job.next) {
        const text = outputs.filter((o) => o.phase === "answer").map((o) => o.text).join("");
        await run(job.next(text.trim()), `${key}+`);
      }
    };
    await Promise.all(jobs.map((job, i) => run(job, `${i}`)));
    const seconds = (performance.now() - start) / 1000;
    const s = engine.stats();
    const queries = s.prefixCacheQueries ?? 0, hits = s.prefixCacheHits ?? 0;
    const row: CapacityRow = {
      workload: w.name,
      config: c.name,
      demotion: c.demotion,
      mean_running: s.running!.steps > 0 ? s.running!.seqSteps / s.running!.steps : 0,
      mean_running_saturated: s.running!.saturatedSteps > 0
        ? s.running!.saturatedSeqSteps / s.running!.saturatedSteps
        : 0,
      saturated_steps: s.running!.saturatedSteps,
      max_running: s.running!.max,
      demoted_blocks: (s.kvDemotions ?? []).reduce((n, d) => n + d.blocks, 0),
      preemptions: s.numPreemptions,
      recomputed_tokens: s.recomputedTokens ?? 0,
      tokens_per_s: generated / seconds,
      prefix_hit_rate: queries > 0 ? hits / queries : 0,
      accuracy: scored > 0 ? correct / scored : null,
      n: sent,
      shared_prefix_served: shared > 0 ? Math.min(1, hits / (shared * sent)) : null,
      prefix_caching: c.prefixCaching !== false,
      same_output_as_miss: null,
      budget_bytes: budget,
      admission_headroom: headroom,
      seconds,
    };
    return { row, outputs: tokens };
  } finally {
    await engine.close();
  }
}

function problemJobs(problems: readonly HeldoutProblem[]) {
  return (engine: EngineApi): Job[] =>
    problems.map((p) => ({
      request: {
        promptIds: engine.encode(engine.applyChatTemplate(p.messages)),
        maxTokens: PROBLEM_MAX_TOKENS,
      },
      answer: p.answer,
    }));
}

function chatJobs(problems: readonly HeldoutProblem[], chats: number) {
  return (engine: EngineApi): Job[] =>
    Array.from({ length: chats }, (_, i) => {
      const first = problems[2 * i], second = problems[2 * i + 1];
      const turn1 = [{ role: "system", content: SYSTEM_PROMPT }, ...first.messages];
      const encode = (messages: typeof turn1) => engine.encode(engine.applyChatTemplate(messages));
      return {
        request: { promptIds: encode(turn1), maxTokens: PROBLEM_MAX_TOKENS },
        answer: first.answer,
        next: (text: string) => ({
          request: {
            promptIds: encode([...turn1, { role: "assistant", content: text }, ...second.messages]),
            maxTokens: PROBLEM_MAX_TOKENS,
          },
          answer: second.answer,
        }),
      };
    });
}

/** Tokens every chat's first prompt starts with (the system prompt, as rendered). */
function sharedPrefixTokens(problems: readonly HeldoutProblem[]) {
  return (engine: EngineApi): number => {
    const render = (p: HeldoutProblem) =>
      engine.encode(
        engine.applyChatTemplate([{ role: "system", content: SYSTEM_PROMPT }, ...p.messages]),
      );
    const a = render(problems[0]), b = render(problems[1]);
    let k = 0;
    while (k < a.length && a[k] === b[k]) k++;
    return k;
  };
}

/** A random-weight checkpoint with R1-Distill-1.5B's KV shape and no think markers. */
async function traceCheckpoint(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "phasekv_capacity_" });
  await writeTinyCheckpoint(dir, {
    arch: "qwen2",
    hiddenSize: TRACE_LAYOUT.numKvHeads * TRACE_LAYOUT.headDim * 2,
    numHeads: TRACE_LAYOUT.numKvHeads * 2,
    numKvHeads: TRACE_LAYOUT.numKvHeads,
    headDim: TRACE_LAYOUT.headDim,
    intermediateSize: 256,
    numLayers: 2,
    maxPositionEmbeddings: 4096,
    dtype: "F16",
    seed: 7,
  });
  // without think markers the engine counts think by the fraction rule, as for such models
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) {
    const path = `${dir}/${file}`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replaceAll("think>", "thunk>"));
  }
  return dir;
}

function formatTable(rows: readonly CapacityRow[]): string {
  const f16 = new Map(
    rows.filter((r) => r.config === "f16" && r.prefix_caching).map((r) => [r.workload, r]),
  );
  const pct = (x: number | null) => x === null ? "—" : `${(100 * x).toFixed(1)}%`;
  const times = (x: number, base: number | undefined) =>
    base && base > 0 ? (x / base).toFixed(2) : "—";
  const lines = [
    "| workload | config | demotion | admission headroom | running at saturation | × f16 | mean running | × f16 | max running | demoted blocks | preemptions | recomputed tokens | tokens/s | prefix cache | prefix hit rate | shared prefix served | same output as miss | accuracy | n |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const base = f16.get(r.workload);
    lines.push(
      `| ${r.workload} | ${r.config} | ${r.demotion ? "yes" : "no"} | ${r.admission_headroom} | ${
        r.mean_running_saturated.toFixed(2)
      } | ${times(r.mean_running_saturated, base?.mean_running_saturated)} | ${
        r.mean_running.toFixed(2)
      } | ${
        times(r.mean_running, base?.mean_running)
      } | ${r.max_running} | ${r.demoted_blocks} | ${r.preemptions} | ${r.recomputed_tokens} | ${
        r.tokens_per_s.toFixed(1)
      } | ${r.prefix_caching ? "on" : "off"} | ${pct(r.prefix_hit_rate)} | ${
        pct(r.shared_prefix_served)
      } | ${pct(r.same_output_as_miss)} | ${pct(r.accuracy)} | ${r.n} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string" },
      chats: { type: "string" },
      "trace-seqs": { type: "string" },
      "trace-tokens": { type: "string" },
      configs: { type: "string" },
      workloads: { type: "string" },
      "block-size": { type: "string" },
      "admission-headroom": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const int = (v: string | undefined, name: string, fallback: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name} expects a positive integer`);
    return n;
  };
  const n = int(values.n, "n", 48);
  const chats = int(values.chats, "chats", 24);
  const traceSeqs = int(values["trace-seqs"], "trace-seqs", 24);
  const traceTokens = int(values["trace-tokens"], "trace-tokens", 2048);
  const headroom = Number(values["admission-headroom"] ?? 0);
  if (!(headroom >= 0 && headroom <= 1)) {
    throw new RangeError("--admission-headroom expects a number in [0, 1]");
  }
  const names = (values.workloads ?? "concurrent,shared_prefix,long_trace").split(",");
  const model = DEFAULT_MODEL_DIR.replace(/\/$/, "");
  const problems = parseHeldout(await Deno.readTextFile(`${model}/heldout.jsonl`));
  const profile = await loadProfile(model);
  if (!profile) throw new Error(`${model} has no phasekv.profile.json`);
  const flagBlock = values["block-size"] === undefined
    ? undefined
    : int(values["block-size"], "block-size", 16);
  // the default model's workloads serve it as its profile says; long_trace's checkpoint has none
  const modelBlock = blockSize(flagBlock, profile);
  const traceBlock = flagBlock ?? DEFAULT_BLOCK_SIZE;
  // likewise the demotion floors: measured on the default model, the default on long_trace
  const modelDemotion = demotionSetting(undefined, profile);
  const tiny = { numLayers: 4, numKvHeads: 2, headDim: 32 };
  const workloads: Workload[] = [];
  for (const name of names) {
    if (name === "concurrent") {
      workloads.push({
        name,
        model,
        blockSize: modelBlock,
        demotion: modelDemotion,
        layout: tiny,
        jobs: problemJobs(problems.slice(0, n)),
        sharedTokens: () => 0,
      });
    } else if (name === "shared_prefix") {
      workloads.push({
        name,
        model,
        blockSize: modelBlock,
        demotion: modelDemotion,
        layout: tiny,
        jobs: chatJobs(problems.slice(n, n + 2 * chats), chats),
        sharedTokens: sharedPrefixTokens(problems.slice(n, n + 2)),
      });
    } else if (name === "long_trace") {
      const dir = await traceCheckpoint();
      workloads.push({
        name,
        model: dir,
        blockSize: traceBlock,
        demotion: DEFAULT_KV_DEMOTION,
        layout: TRACE_LAYOUT,
        jobs: () =>
          Array.from({ length: traceSeqs }, (_, i) => ({
            request: {
              promptIds: [1 + i, 40 + i, 80 + i, 120 + i],
              maxTokens: traceTokens,
              ignoreEos: true,
            },
            answer: null,
          })),
        sharedTokens: () => 0,
        thinkFraction: 0.75,
      });
    } else throw new RangeError(`Unknown workload ${name}`);
  }
  const rows: CapacityRow[] = [];
  for (const w of workloads) {
    const budget = await budgetFor(w);
    const f16Seqs = 4;
    console.error(
      `${w.name}: budget ${budget} bytes (f16 holds ${f16Seqs} sequences at their longest), ${w.blockSize}-token blocks, demotion ${w.demotion}, admission headroom ${headroom}`,
    );
    // the scheduler is deterministic: a config equal to one already run (the profile when it
    // is a uniform dtype) gets that row under its own name rather than a second run
    const done = new Map<string, RowRun>();
    // rows of this workload, built once every run has ended (a miss run completes its twin)
    const entries: { run: RowRun; config: string }[] = [];
    const key = (c: Config) =>
      JSON.stringify([
        c.dtypes.prompt,
        c.dtypes.think,
        c.dtypes.answer,
        c.recentTokens,
        c.demotion,
      ]);
    for (const c of configs(profile, w.name).filter((c) => wanted(c, values.configs))) {
      const cache = c.prefixCaching !== false;
      const label = `${w.name} ${c.name}${c.demotion ? "+demotion" : ""}${
        cache ? "" : " (no prefix cache)"
      }`;
      const same = done.get(key(c));
      if (same && cache) {
        console.error(`${label}: the same dtypes as ${same.row.config}, its row reused`);
        entries.push({ run: same, config: c.name });
        continue;
      }
      console.error(`${label}: running`);
      const run = await runRow(w, c, budget, headroom);
      if (cache) done.set(key(c), run);
      else if (same) same.row.same_output_as_miss = sameShare(same.outputs, run.outputs);
      entries.push({ run, config: c.name });
      const row = run.row;
      console.error(
        `${label}: mean running ${row.mean_running.toFixed(2)}, preemptions ${row.preemptions}, ${
          row.seconds.toFixed(1)
        } s; row ${JSON.stringify(row)}`,
      );
    }
    rows.push(...entries.map(({ run, config }) => ({ ...run.row, config })));
  }
  console.log(formatTable(rows));
  if (values.json) console.log(JSON.stringify(rows));
}

/**
 * 4 × the f16 bytes of the workload's longest sequence at its longest, all layers: its prompt
 * blocks and its output blocks, with the partial block the think→answer change may close.
 */
async function budgetFor(w: Workload): Promise<number> {
  const engine = await createEngine({ model: w.model, inProcess: true, kvProfile: "none" });
  try {
    const jobs = w.jobs(engine);
    // shared_prefix: a second turn's prompt carries the first and its answer
    const extra = jobs.some((j) => j.next) ? 2 * PROBLEM_MAX_TOKENS + 16 : 0;
    const b = w.blockSize;
    const blocks = Math.max(
      ...jobs.map((j) =>
        Math.ceil((j.request.promptIds.length + extra) / b) + Math.ceil(j.request.maxTokens / b) +
        1
      ),
    );
    const block = kvDtype("f16").blockBytes({ ...w.layout, blockSize: b });
    return 4 * blocks * block * w.layout.numLayers;
  } finally {
    await engine.close();
  }
}

if (import.meta.main) await main();
