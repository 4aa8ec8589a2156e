/**
 * Calibration of a model folder on the served runner: generate the model's own f16 traces on
 * the calibration prompts, measure each phase's sensitivity at each dtype (one phase quantized
 * at a time, teacher-forced), search the cheapest phase policy under the flip floor (or the
 * least distortion at a byte budget), and, given held-out problems, score the choice against
 * f16, uniform dtypes and the random-block control on a test part never used to choose.
 * @module
 */
import { chooseDemotion } from "./demotion_floor.ts";
import { findThinkMarkers, loadChatTemplate } from "../model/chat_template.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { loadTokenizer } from "../model/tokenizer.ts";
import { type Phase, PHASES } from "../kv/types.ts";
import { BatchRunner } from "./batch_runner.ts";
import type { HeldoutProblem } from "./heldout.ts";
import type { CalibrationPrompt } from "./prompts.ts";
import { probeAttention, type ProbeResult } from "./attention_probe.ts";
import {
  candidates,
  describePolicy,
  type Measured,
  type PhasePolicy,
  type SearchGoal,
  searchMeasured,
  searchOrder,
} from "./search.ts";
import {
  compareLogits,
  forcedLogits,
  type Reference,
  type Sensitivity,
  type Trace,
} from "./sensitivity.ts";
import { blocksOf, type ByteDims, bytesPerToken, longTrace } from "./served_bytes.ts";
import { encodePrompt } from "./prompts.ts";
import { type EncodedProblem, scoreProblems } from "./task_accuracy.ts";
import { type TestResult, validateOnTest } from "./validate.ts";
import { dtypeMix, randomBlocks, randomBytesPerToken } from "./random_control.ts";

/** Options of `calibrateModel`. */
export interface CalibrateOptions {
  modelDir: string;
  /** Prompts whose f16 generations are the traces (used when there is no eval set). */
  prompts: readonly CalibrationPrompt[];
  /** Held-out problems: `calibration` replaces `prompts`; `test` is scored, never used to choose. */
  eval?: { calibration: readonly HeldoutProblem[]; test: readonly HeldoutProblem[] };
  /** Quantized dtypes the search may give a phase (f16 is always allowed). */
  ladder: readonly string[];
  recentTokens: number;
  /** Tokens per KV block the traces are measured with (recorded in the profile). */
  blockSize: number;
  maxTokens: number;
  /** Flip-rate floor of the search (ignored with budgetBits). */
  maxFlipRate: number;
  /** Byte budget in stored bits per element, as served: least flips within it. */
  budgetBits?: number;
  /** Traces whose q/k/v are captured for ρ and attention KL. */
  probeTraces: number;
  /** Sequences per runner batch. */
  batch: number;
  seed: number;
  onProgress?: (line: string) => void;
}

/** One configuration measured on the calibration traces. */
export interface CalibrationRow {
  name: string;
  kind: "f16" | "one phase" | "uniform" | "phase split" | "random control";
  dtypes: PhasePolicy | null;
  bytesPerToken: number;
  sensitivity: Sensitivity;
}

/** Everything calibration found. */
export interface CalibrationResult {
  model: string;
  phaseRule: string;
  numTraces: number;
  generatedTokens: number;
  recentTokens: number;
  /** Tokens per KV block the measurement used. */
  blockSize: number;
  /** The demotion order and floors for the chosen policy (`--kv-demotion` syntax, or "none"). */
  demotion: string;
  /** Blocks each phase has outside the window on the traces: a phase with none is unmeasured. */
  sealedBlocks: Record<Phase, number>;
  goal: SearchGoal;
  rows: CalibrationRow[];
  /** Candidates measured jointly by the search, in order. */
  tried: Measured[];
  /** The chosen policy, or null when no candidate met the goal (f16 is shipped then). */
  chosen: Measured | null;
  /** Bytes per token of f16 and the chosen policy on a 4096-token trace. */
  longTrace: { tokens: number; f16: number; chosen: number };
  probe: ProbeResult | null;
  test: TestResult | null;
  /** f16 accuracy on the calibration part (eval sets only). */
  calibrationAccuracy: number | null;
}

/** Runs calibration; see the module doc. */
export async function calibrateModel(opts: CalibrateOptions): Promise<CalibrationResult> {
  const log = opts.onProgress ?? (() => {});
  const model = opts.modelDir.replace(/\/+$/, "").split("/").at(-1)!;
  const tokenizer = await loadTokenizer(opts.modelDir);
  const template = await loadChatTemplate(opts.modelDir, tokenizer).catch(() => null);
  const markers = findThinkMarkers(tokenizer);
  const ckpt = await loadCheckpoint(opts.modelDir);
  const encode = (p: CalibrationPrompt) => encodePrompt(p, tokenizer, template);
  const calProblems: EncodedProblem[] | null = opts.eval
    ? opts.eval.calibration.map((p) => ({
      ...encode({ kind: "chat", messages: p.messages.map((m) => ({ ...m })) }),
      answer: p.answer,
    }))
    : null;
  const testProblems: EncodedProblem[] = (opts.eval?.test ?? []).map((p) => ({
    ...encode({ kind: "chat", messages: p.messages.map((m) => ({ ...m })) }),
    answer: p.answer,
  }));
  const prompts = calProblems ?? opts.prompts.map((p) => ({ ...encode(p), answer: "" }));
  const longestPrompt = Math.max(...[...prompts, ...testProblems].map((p) => p.ids.length));
  const runner = await BatchRunner.open(ckpt, {
    maxSeqs: opts.batch,
    maxTokens: longestPrompt + opts.maxTokens,
    maxPromptRows: opts.batch * longestPrompt,
    blockSize: opts.blockSize,
    markers: { openId: markers?.open ?? null, closeId: markers?.close ?? null },
  });
  const dims: ByteDims = { layout: runner.layout, numLayers: ckpt.spec.numLayers };
  const R = opts.recentTokens;
  const elementsPerToken = 2 * ckpt.spec.numLayers * ckpt.spec.numKvHeads * ckpt.spec.headDim;
  const goal: SearchGoal = opts.budgetBits === undefined
    ? { kind: "floor", maxFlipRate: opts.maxFlipRate }
    : { kind: "budget", maxBytesPerToken: (opts.budgetBits / 8) * elementsPerToken };
  try {
    log(`generating ${prompts.length} f16 traces`);
    const f16 = await scoreProblems(runner, tokenizer, prompts, () => "f16", {
      recentTokens: R,
      maxTokens: opts.maxTokens,
    });
    const traces: Trace[] = prompts.map((p, i) => ({
      promptIds: p.ids,
      startsInThink: p.startsInThink,
      ids: f16.generated[i].ids,
      phases: [...p.ids.map(() => "prompt" as Phase), ...f16.generated[i].phases as Phase[]],
    }));
    // what each sequence holds when it finishes: every token, the last one included
    const held = traces.map((t) => t.phases);
    const bytesOf = (d: PhasePolicy) => bytesPerToken(held, d, R, dims);
    const long = longTrace(4096);
    const forced = (dtypeOf: (trace: number, phase: Phase, index: number) => string) =>
      forcedLogits(runner, traces, (t, b) => dtypeOf(t, b.phase, b.index), R);

    log("teacher-forcing the f16 reference");
    const reference: Reference = await forced(() => "f16");
    const rows: CalibrationRow[] = [];
    const measure = async (
      row: Omit<CalibrationRow, "sensitivity">,
      dtypeOf: Parameters<typeof forced>[0],
    ) => {
      const sensitivity = compareLogits(reference, await forced(dtypeOf));
      rows.push({ ...row, sensitivity });
      log(
        `${row.name}: ${sensitivity.flips} flips in ${sensitivity.positions} tokens, ` +
          `KL p99 ${sensitivity.klP99.toExponential(2)}, ${row.bytesPerToken.toFixed(0)} B/token`,
      );
      return sensitivity;
    };
    const all = (d: string): PhasePolicy => ({ prompt: d, think: d, answer: d });
    rows.push({
      name: "f16",
      kind: "f16",
      dtypes: all("f16"),
      bytesPerToken: bytesOf(all("f16")),
      sensitivity: compareLogits(reference, reference),
    });
    const perPhase = new Map<string, Sensitivity>();
    for (const phase of PHASES) {
      for (const dtype of opts.ladder) {
        const dtypes = { ...all("f16"), [phase]: dtype };
        const s = await measure(
          {
            name: `${phase} ${dtype} alone`,
            kind: "one phase",
            dtypes,
            bytesPerToken: bytesOf(dtypes),
          },
          (_, p) => (p === phase ? dtype : "f16"),
        );
        perPhase.set(`${phase}/${dtype}`, s);
      }
    }
    for (const dtype of opts.ladder) {
      await measure(
        {
          name: `uniform ${dtype}`,
          kind: "uniform",
          dtypes: all(dtype),
          bytesPerToken: bytesOf(all(dtype)),
        },
        () => dtype,
      );
    }

    const ladder = ["f16", ...opts.ladder];
    const pool = candidates(
      ladder,
      (p, d) => (d === "f16" ? null : perPhase.get(`${p}/${d}`) ?? null),
      bytesOf,
      (d) => bytesPerToken([long], d, R, dims),
    );
    // a phase with no block out of the window on these traces cannot be measured: it takes
    // the dtype of the phase with the most such blocks rather than a guess
    const sealed = sealedBlocks(held, R, dims.layout.blockSize);
    const dominant = PHASES.reduce((a, p) => (sealed[p] > sealed[a] ? p : a));
    const measurable = pool.filter((c) =>
      PHASES.every((p) => sealed[p] > 0 || c.dtypes[p] === c.dtypes[dominant])
    );
    const known = (d: PhasePolicy) =>
      rows.find((r) => r.dtypes && PHASES.every((p) => r.dtypes![p] === d[p]));
    const { chosen, tried } = await searchMeasured(
      searchOrder(measurable, goal),
      goal,
      async (c) => {
        const seen = known(c.dtypes);
        if (seen) return seen.sensitivity;
        return await measure(
          {
            name: describePolicy(c.dtypes),
            kind: "phase split",
            dtypes: c.dtypes,
            bytesPerToken: c.bytesPerToken,
          },
          (_, p) => c.dtypes[p],
        );
      },
    );
    const policy = chosen?.dtypes ?? all("f16");
    const mix = dtypeMix(held, policy, R, dims.layout.blockSize);
    const randomOf = randomBlocks(mix, opts.seed);
    await measure(
      {
        name: `random control (${describePolicy(policy)} mix)`,
        kind: "random control",
        dtypes: null,
        // its own draw on the same held blocks
        bytesPerToken: randomBytesPerToken(held, randomOf, R, dims),
      },
      (t, _, index) => randomOf(t, index),
    );

    const probe = opts.probeTraces > 0
      ? await probeAttention(ckpt, traces.slice(0, opts.probeTraces), opts.ladder, R, log)
      : null;
    const test = opts.eval && testProblems.length > 0
      ? await validateOnTest(runner, tokenizer, testProblems, {
        chosen: policy,
        ladder: opts.ladder,
        bytesOf,
        randomMix: mix,
        recentTokens: R,
        maxTokens: opts.maxTokens,
        seed: opts.seed,
        log,
      })
      : null;
    return {
      model,
      phaseRule: markers === null
        ? "no think markers: think is the first 0.75 of the generated tokens"
        : `think markers by token id (${markers.open} opens, ${markers.close} closes)`,
      numTraces: traces.length,
      generatedTokens: traces.reduce((n, t) => n + t.ids.length, 0),
      recentTokens: R,
      blockSize: dims.layout.blockSize,
      demotion: chooseDemotion(
        policy,
        opts.ladder,
        (p, d) => perPhase.get(`${p}/${d}`),
        sealed,
        goal.kind === "floor" ? goal.maxFlipRate : opts.maxFlipRate,
      ),
      sealedBlocks: sealed,
      goal,
      rows,
      tried,
      chosen,
      longTrace: {
        tokens: long.length,
        f16: bytesPerToken([long], all("f16"), R, dims),
        chosen: bytesPerToken([long], policy, R, dims),
      },
      probe,
      test,
      calibrationAccuracy: calProblems ? f16.accuracy : null,
    };
  } finally {
    runner.destroy();
  }
}

/** Blocks of each phase that the window lets go (sealed unless their dtype is f16). */
function sealedBlocks(
  held: readonly (readonly Phase[])[],
  recentTokens: number,
  blockSize: number,
): Record<Phase, number> {
  const out: Record<Phase, number> = { prompt: 0, think: 0, answer: 0 };
  for (const phases of held) {
    const blocks = blocksOf(phases, blockSize);
    blocks.forEach((b, i) => {
      if (i < blocks.length - 1 && phases.length - b.end >= recentTokens) out[b.phase]++;
    });
  }
  return out;
}
