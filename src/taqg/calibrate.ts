/**
 * Calibration from traces to a served profile: measure ρ, compare the configuration set,
 * search the best allocation at a byte budget (by default the TAQG-aligned split's, so the
 * comparison is iso-memory), and render the report. Pure orchestration: the CLI captures the
 * traces and writes the outputs.
 * @module
 */
import { type Phase, PHASES } from "../kv/types.ts";
import { bytesPerToken, DEFAULT_LADDER, type KvAllocation, type LadderStep } from "./allocation.ts";
import { buildConfigs } from "./config_set.ts";
import { allocationConfig, type ConfigContext, type KvCodec } from "./configs.ts";
import {
  type ConfigRow,
  evaluateConfig,
  type LogitSource,
  perLayerAttentionKl,
} from "./evaluate.ts";
import { paperRedundancy, paperRow } from "./paper_baseline.ts";
import { renderPlot } from "./plot.ts";
import { type Profile, profileFromRow } from "./profile.ts";
import { CacheBank } from "./quantize_cache.ts";
import { measureRedundancy, type RedundancySummary, summarizeRedundancy } from "./redundancy.ts";
import { renderReport } from "./report.ts";
import { searchAllocation } from "./search.ts";
import { spreadOf } from "./stats.ts";
import { countPhases, type KvTrace, splitBlocks, validateTrace } from "./trace.ts";

/** A step of calibration, for progress display. */
export interface CalibrateProgress {
  stage: "redundancy" | "evaluate" | "search" | "report";
  done: number;
  total: number;
  label: string;
}

/** Options of `calibrate`. */
export interface CalibrateOptions {
  /** Model name written into the profile and report. */
  model: string;
  codec: KvCodec;
  /** Dtype of every phase the bound does not lower; default "int4". */
  base?: string;
  /** Tokens per KV block, as the server runs; default 16. */
  blockSize?: number;
  /** Dtypes for the uniform rows, the bound and the search; default f16, int8, int4, int3, int2. */
  ladder?: readonly LadderStep[];
  /** Search budget in KV bytes per token; default the aligned split's (else uniform base's). */
  budgetBytesPerToken?: number;
  /** Let the search choose per layer; default false. */
  perLayer?: boolean;
  /**
   * Let the search give keys and values different dtypes (analysis only: a block holds one
   * dtype, so the profile then serves the best row whose K and V agree); default false.
   */
  splitKv?: boolean;
  /** Query positions sampled per layer for the attention metrics; default 32. */
  maxQueries?: number;
  /** Candidates the search measures; default 48. */
  maxCandidates?: number;
  /** Seed of the random-block control; default 0. */
  seed?: number;
  /** Teacher-forced logits per trace and configuration; next-token KL is n/a without it. */
  logits?: LogitSource;
  onProgress?: (progress: CalibrateProgress) => void;
}

/** What calibration produces. */
export interface CalibrateResult {
  /** The best servable allocation within budget (normally the searched one) as a phase policy. */
  profile: Profile;
  reportMarkdown: string;
  svg: string;
  /** Every configuration measured, the searched one last. */
  rows: ConfigRow[];
  redundancy: RedundancySummary;
}

/** Runs calibration on `traces`, all captured from one model. */
export async function calibrate(
  traces: readonly KvTrace[],
  opts: CalibrateOptions,
): Promise<CalibrateResult> {
  if (traces.length === 0) throw new RangeError("Calibration needs at least one trace");
  traces.forEach(validateTrace);
  const shape = (t: KvTrace) => [t.numLayers, t.numKvHeads, t.numHeads, t.headDim].join("×");
  const odd = traces.findIndex((t) => shape(t) !== shape(traces[0]));
  if (odd !== -1) {
    throw new RangeError(
      `Trace ${odd} has shape ${shape(traces[odd])}, trace 0 ${shape(traces[0])}`,
    );
  }
  const progress = opts.onProgress ?? (() => {});
  const ladder = opts.ladder ?? DEFAULT_LADDER;
  const base = opts.base ?? "int4";
  const contexts: ConfigContext[] = traces.map((trace, traceIndex) => {
    const blocks = splitBlocks(trace.phases, opts.blockSize ?? 16);
    return { trace, blocks, traceIndex, bank: new CacheBank(trace, blocks, opts.codec.quantize) };
  });

  const redundancy = summarizeRedundancy(traces.map((t, i) => {
    progress({ stage: "redundancy", done: i, total: traces.length, label: `trace ${i}` });
    return measureRedundancy(t);
  }));
  const rho = {} as Record<Phase, number>;
  for (const p of PHASES) rho[p] = redundancy.byPhase[p].mean;

  const configs = buildConfigs({ rho, base, ladder, seed: opts.seed });
  const evalOpts = { maxQueries: opts.maxQueries, logits: opts.logits };
  const rows: ConfigRow[] = [];
  const total = configs.length + 1;
  for (const [i, config] of configs.entries()) {
    progress({ stage: "evaluate", done: i, total, label: config.name });
    rows.push(await evaluateConfig(config, contexts, opts.codec, evalOpts));
  }

  const budgetBits = searchBudget(rows, base, traces[0], opts.budgetBytesPerToken);
  progress({ stage: "search", done: 0, total: 1, label: `${budgetBits.toFixed(3)} bits/elem` });
  const found = searchAllocation({
    dtypes: ladder.map((s) => s.dtype),
    budgetBits,
    counts: countPhases(traces),
    numLayers: traces[0].numLayers,
    bitsPerElement: opts.codec.bitsPerElement,
    measure: (allocation) =>
      perLayerAttentionKl(
        allocationConfig("candidate", "searched", allocation),
        contexts,
        opts.codec,
        opts.maxQueries,
      ),
    perLayer: opts.perLayer,
    splitKv: opts.splitKv,
    maxCandidates: opts.maxCandidates,
  });
  const name = `searched (${describe(found.allocation)})`;
  progress({ stage: "evaluate", done: total - 1, total, label: name });
  const searched = allocationConfig(name, "searched", found.allocation);
  rows.push(await evaluateConfig(searched, contexts, opts.codec, evalOpts));

  progress({ stage: "report", done: 0, total: 1, label: "report" });
  const paperRows = paperSplits(rows, ladder).map((s) => paperRow(traces, ...s));
  const paperRhos = traces.map(paperRedundancy);
  const paperRho = {
    think: spreadOf(paperRhos.map((r) => r.think).filter(Number.isFinite)),
    answer: spreadOf(paperRhos.map((r) => r.answer).filter(Number.isFinite)),
  };
  const numTraces = traces.length;
  return {
    profile: profileFromRow(opts.model, servedRow(rows, budgetBits), redundancy, numTraces),
    reportMarkdown: renderReport({
      model: opts.model,
      numTraces,
      redundancy,
      rows,
      paperRows,
      paperRho,
    }),
    svg: renderPlot(redundancy, rows),
    rows,
    redundancy,
  };
}

/**
 * The row the profile serves: least attention KL among phase policies within the budget whose
 * keys and values share a dtype (a block holds one). The searched row, unless splitKv chose
 * different K and V dtypes.
 */
function servedRow(rows: readonly ConfigRow[], budgetBits: number): ConfigRow {
  const servable = rows.filter((r) =>
    r.allocation !== null && r.bitsPerElement <= budgetBits + 1e-9 &&
    [r.allocation.phases, ...(r.allocation.perLayer ?? [])].every((phases) =>
      PHASES.every((p) => phases[p].key === phases[p].value)
    )
  );
  if (servable.length === 0) throw new RangeError("No measured phase policy fits the budget");
  // on a tie the later row wins: the searched row comes last
  return servable.reduce((a, r) => (r.attentionKl.mean <= a.attentionKl.mean ? r : a));
}

/** Bits per element of the byte budget: given, else the aligned split's, else uniform base's. */
function searchBudget(
  rows: readonly ConfigRow[],
  base: string,
  dims: KvTrace,
  budgetBytesPerToken?: number,
): number {
  if (budgetBytesPerToken !== undefined) return budgetBytesPerToken / bytesPerToken(1, dims);
  const row = rows.find((r) => r.kind === "aligned") ??
    rows.find((r) => r.name === `uniform ${base}`);
  if (row === undefined) {
    throw new RangeError(`No budget: give budgetBytesPerToken or put ${base} on the ladder`);
  }
  return row.bitsPerElement;
}

function describe(allocation: KvAllocation): string {
  const slots = PHASES.map((p) => {
    const { key, value } = allocation.phases[p];
    return `${p} ${key === value ? key : `K ${key} V ${value}`}`;
  });
  return (allocation.perLayer ? "per layer, layer 0: " : "") + slots.join(", ");
}

/** The splits the paper's metric is shown for: the quantized uniform rows, aligned and anti-aligned. */
function paperSplits(
  rows: readonly ConfigRow[],
  ladder: readonly LadderStep[],
): [string, number, number][] {
  const bitsOf = (dtype: string) => ladder.find((s) => s.dtype === dtype)?.bits ?? 16;
  const splits: [string, number, number][] = [];
  for (const r of rows) {
    if (r.allocation === null || !["uniform", "aligned", "anti-aligned"].includes(r.kind)) continue;
    const { think, answer } = r.allocation.phases;
    if (bitsOf(think.key) < 16) splits.push([r.name, bitsOf(think.key), bitsOf(answer.key)]);
  }
  return splits;
}
