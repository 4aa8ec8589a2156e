/**
 * `deno task calibrate`: measure what phase-aware KV quantization buys on a model's own
 * generations, through the served kernels, and write the profile, the report and its plot.
 * Progress goes to stderr.
 *
 *   deno task calibrate [--model DIR] [--prompts FILE] [--samples N] [--max-tokens N]
 *     [--budget-bits B] [--seed S] [--out FILE] [--report FILE]
 * @module
 */
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { calibrationPrompts } from "../taqg/prompts.ts";
import { calibrateServed } from "../taqg/served_calibration.ts";
import { servedVerdict } from "../taqg/verdict.ts";

const USAGE = "usage: deno task calibrate [--model DIR] [--prompts FILE] [--samples N] " +
  "[--max-tokens N] [--budget-bits B] [--seed S] [--out FILE] [--report FILE]";

/** The embedded reasoning model, calibrated when no --model is given. */
export const DEFAULT_MODEL = "models/phasekv-tiny-reasoner";

/** Raised for a command-line value that is not what its flag takes. */
export class CalibrateUsageError extends Error {
  /** Names the flag and the value. */
  constructor(detail: string) {
    super(`${detail}\n${USAGE}`);
    this.name = "CalibrateUsageError";
  }
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      model: { type: "string", default: DEFAULT_MODEL },
      prompts: { type: "string" },
      samples: { type: "string", default: "8" },
      "max-tokens": { type: "string", default: "128" },
      "budget-bits": { type: "string" },
      seed: { type: "string", default: "0" },
      out: { type: "string" },
      report: { type: "string" },
    },
  });
  const modelDir = v.model!.replace(/\/+$/, "");
  const name = modelDir.split("/").at(-1)!;
  const samples = positiveInt(v.samples!, "--samples");
  const maxTokens = positiveInt(v["max-tokens"]!, "--max-tokens");
  const seed = positiveInt(v.seed!, "--seed", 0);
  const budgetBits = v["budget-bits"] === undefined ? undefined : bits(v["budget-bits"]);
  const out = v.out ?? `reports/${name}/phasekv.profile.json`;
  const report = v.report ?? `${dirname(out)}/report.md`;
  const plot = `${dirname(report)}/plot.svg`;
  const log = (line: string) => console.error(line);

  const { prompts, source } = await calibrationPrompts(modelDir, {
    file: v.prompts,
    samples,
    seed,
  });
  log(`calibrating ${modelDir} on ${prompts.length} prompts: ${source}`);
  const started = performance.now();
  const result = await calibrateServed({
    modelDir,
    prompts,
    maxTokens,
    budgetBits,
    seed,
    onProgress: log,
  });
  const seconds = (performance.now() - started) / 1000;
  const header = [
    `Measured with \`deno task calibrate --model ${modelDir} --samples ${samples} ` +
    `--max-tokens ${maxTokens}${budgetBits === undefined ? "" : ` --budget-bits ${budgetBits}`}` +
    ` --seed ${seed}\` in ${
      seconds.toFixed(0)
    } s. Prompts: ${source}. Phases: ${result.phaseRule}.`,
    "Each prompt was generated",
    "greedily on the served GPU runner with an f16 cache, then teacher-forced once to capture",
    "every layer's post-RoPE q/k/v; each KV block was sealed by the served seal kernel and read",
    "back through the kv_decode layout. Next-token KL re-runs each sequence teacher-forced on the",
    "served KV path, sealing each block to the configuration's dtype as it closes (n/a for",
    "configurations the server cannot run). The profile serves the least-attention-KL phase",
    `policy within the budget: **${result.profile.measured?.config}**.`,
    "",
  ].join("\n");
  const verdict = servedVerdict(result.rows, result.profile.measured!.config);
  const markdown = result.reportMarkdown.replace(/\n\n/, `\n\n${header}\n`) + "\n" +
    verdict.markdown;
  for (const file of [out, report, plot]) await Deno.mkdir(dirname(file), { recursive: true });
  await Deno.writeTextFile(out, JSON.stringify(result.profile, null, 2) + "\n");
  await Deno.writeTextFile(report, markdown);
  await Deno.writeTextFile(plot, result.svg);
  log(`wrote ${out}, ${report} and ${plot} (${seconds.toFixed(0)} s)`);
  log(
    `profile ${verdict.notWorseThanUniform ? "is not worse than" : "is WORSE than"} uniform ` +
      "at equal bits",
  );
  return 0;
}

function positiveInt(s: string, flag: string, min = 1): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) {
    throw new CalibrateUsageError(`${flag} takes an integer ≥ ${min}, got ${s}`);
  }
  return n;
}

function bits(s: string): number {
  const n = Number(s);
  if (!(n > 0 && n <= 16)) throw new CalibrateUsageError(`--budget-bits takes (0, 16], got ${s}`);
  return n;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(e instanceof CalibrateUsageError ? e.message : e);
    Deno.exit(e instanceof CalibrateUsageError ? 2 : 1);
  }
}
