/**
 * Validation on the test part of an eval set, never used to choose: the chosen policy, f16, the
 * uniform dtypes whose bytes bracket the choice's, and the random-block control with the choice's
 * dtype mix, each scored on the same problems and compared in pairs.
 * @module
 */
import type { Tokenizer } from "../model/tokenizer.ts";
import type { BatchRunner } from "./batch_runner.ts";
import { type PairedDifference, pairedDifference } from "./paired.ts";
import { randomBlocks } from "./random_control.ts";
import { describePolicy, type PhasePolicy } from "./search.ts";
import { type EncodedProblem, scoreProblems } from "./task_accuracy.ts";

/** One configuration scored on the test part. */
export interface TestRow {
  name: string;
  kind: "f16" | "chosen" | "uniform" | "random control";
  dtypes: PhasePolicy | null;
  accuracy: number;
  /** As served on the test problems: window, open and partial blocks included. */
  bytesPerToken: number;
  outcomes: boolean[];
}

/** The test part's scores and paired comparisons. */
export interface TestResult {
  n: number;
  rows: TestRow[];
  pairs: { a: string; b: string; difference: PairedDifference }[];
}

/** Options of `validateOnTest`. */
export interface ValidateOptions {
  chosen: PhasePolicy;
  ladder: readonly string[];
  /** Bytes per token of a policy on the calibration traces (to find the bracketing uniforms). */
  bytesOf: (d: PhasePolicy) => number;
  randomMix: Map<string, number>;
  recentTokens: number;
  maxTokens: number;
  seed: number;
  log: (line: string) => void;
}

/** Scores the configurations on `problems` and pairs them. */
export async function validateOnTest(
  runner: BatchRunner,
  tokenizer: Tokenizer,
  problems: readonly EncodedProblem[],
  opts: ValidateOptions,
): Promise<TestResult> {
  const all = (d: string): PhasePolicy => ({ prompt: d, think: d, answer: d });
  const same = (a: PhasePolicy | null, b: PhasePolicy | null) =>
    a !== null && b !== null && a.prompt === b.prompt && a.think === b.think &&
    a.answer === b.answer;
  const chosenBytes = opts.bytesOf(opts.chosen);
  // the chosen policy itself, when uniform, brackets nothing
  const uniforms = opts.ladder.filter((d) => !same(all(d), opts.chosen))
    .map((d) => ({ d, bytes: opts.bytesOf(all(d)) }));
  const below = uniforms.filter((u) => u.bytes <= chosenBytes).sort((a, b) => b.bytes - a.bytes)[0];
  const above = uniforms.filter((u) => u.bytes > chosenBytes).sort((a, b) => a.bytes - b.bytes)[0];
  const configs: Omit<TestRow, "accuracy" | "bytesPerToken" | "outcomes">[] = [
    { name: "f16", kind: "f16", dtypes: all("f16") },
    { name: `chosen: ${describePolicy(opts.chosen)}`, kind: "chosen", dtypes: opts.chosen },
    ...[below, above].filter((u) => u !== undefined).map((u) => ({
      name: `uniform ${u!.d}`,
      kind: "uniform" as const,
      dtypes: all(u!.d),
    })),
    { name: "random control", kind: "random control", dtypes: null },
  ];
  const unique = configs.filter((c, i) =>
    !configs.slice(0, i).some((o) => same(o.dtypes, c.dtypes))
  );
  const randomOf = randomBlocks(opts.randomMix, opts.seed + 1);
  const rows: TestRow[] = [];
  for (const c of unique) {
    const started = performance.now();
    const score = await scoreProblems(
      runner,
      tokenizer,
      problems,
      (p, b) => (c.dtypes ? c.dtypes[b.phase] : randomOf(p, b.index)),
      {
        recentTokens: opts.recentTokens,
        maxTokens: opts.maxTokens,
        onBatch: (done) => opts.log(`test ${c.name}: ${done}/${problems.length}`),
      },
    );
    opts.log(
      `test ${c.name}: ${(100 * score.accuracy).toFixed(1)}% at ${
        score.bytesPerToken.toFixed(0)
      } ` +
        `B/token (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
    rows.push({
      ...c,
      accuracy: score.accuracy,
      bytesPerToken: score.bytesPerToken,
      outcomes: score.outcomes,
    });
  }
  const chosen = rows.find((r) => r.kind === "chosen") ?? rows[0];
  const pairs = rows.filter((r) => r !== chosen).map((r) => ({
    a: chosen.name,
    b: r.name,
    difference: pairedDifference(chosen.outcomes, r.outcomes),
  }));
  return { n: problems.length, rows, pairs };
}
