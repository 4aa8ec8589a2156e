/**
 * `deno task calibrate`: measure each phase's sensitivity on the model's own generations through
 * the served runner, choose the cheapest phase policy under a flip-rate floor (or the least
 * flips at a byte budget), validate it on held-out problems when given, and write the profile,
 * the report and its Pareto plot. Progress goes to stderr.
 * @module
 */
import { dirname } from "node:path";
import { flag, FlagError, type FlagValues, parseFlags, usageText } from "../config/flag_parser.ts";
import { DEFAULT_MODEL_DIR, integer, MODEL_FLAGS, number, text } from "../config/flags.ts";
import { DEFAULT_BLOCK_SIZE, DEFAULT_RECENT_TOKENS } from "../kv/block_table.ts";
import { kvDtype } from "../kv/dtype.ts";
import { calibrateModel } from "../taqg/calibrate.ts";
import { parseHeldout } from "../taqg/heldout.ts";
import { renderPareto } from "../taqg/pareto.ts";
import { calibrationPrompts } from "../taqg/prompts.ts";
import { paretoPanels, profileOf, renderReport } from "../taqg/report.ts";
import { describePolicy } from "../taqg/search.ts";
import { z } from "zod";

const ladder: z.ZodType<string[]> = z.string().transform((s, ctx) => {
  const names = s.split(",").map((d) => d.trim()).filter(Boolean);
  try {
    const canonical = names.map((d) => kvDtype(d).name);
    if (canonical.length > 0 && !canonical.includes("f16")) return canonical;
    ctx.addIssue({ code: "custom", message: "expects quantized dtypes (f16 is always allowed)" });
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
  }
  return z.NEVER;
});

/** The flip-rate floor that kept the default model within 0.5 point of f16 (see its report). */
export const DEFAULT_MAX_FLIP_RATE = 0.0002;

/** Every flag of `deno task calibrate`. */
export const CALIBRATE_FLAGS = {
  ...MODEL_FLAGS,
  eval: flag(
    text.optional(),
    "held-out problems (heldout.jsonl format) to choose on and validate",
    {
      value: "FILE.jsonl",
    },
  ),
  "calibration-n": flag(integer(1).default(200), "problems of --eval that choices are made on", {
    value: "N",
  }),
  "test-n": flag(integer(1).default(500), "problems after them, scored and never used to choose", {
    value: "N",
  }),
  prompts: flag(text.optional(), "prompts without --eval (one JSON chat or string a line)", {
    value: "FILE",
    defaultText: "fresh variants of the model's heldout.jsonl, else story openings",
  }),
  samples: flag(integer(1).default(64), "prompts used without --eval", { value: "N" }),
  "max-tokens": flag(integer(1).default(128), "tokens generated per sequence at most", {
    value: "N",
  }),
  "max-flip-rate": flag(
    number(0, 1).default(DEFAULT_MAX_FLIP_RATE),
    "floor: the cheapest policy whose top-1 flip rate against f16 is at most this",
    { value: "F" },
  ),
  "budget-bits": flag(
    number(0.5, 32).optional(),
    "instead: the fewest flips within B bits/element as served",
    {
      value: "B",
    },
  ),
  dtypes: flag(
    ladder.default(["int8", "int4", "zp4", "k4v3", "int3", "zp3", "k3v2", "int2"]),
    "dtypes the search may give a phase",
    {
      value: "LIST",
      defaultText: "int8,int4,zp4,k4v3,int3,zp3,k3v2,int2",
    },
  ),
  "kv-recent-tokens": flag(
    integer(0).default(DEFAULT_RECENT_TOKENS),
    "newest tokens kept f16 while measuring (recorded in the profile)",
    { value: "N" },
  ),
  "block-size": flag(
    integer(1).default(DEFAULT_BLOCK_SIZE),
    "tokens per KV block while measuring (recorded in the profile)",
    { value: "N" },
  ),
  "probe-traces": flag(integer(0).default(8), "traces captured for ρ and attention KL", {
    value: "N",
  }),
  batch: flag(integer(1).default(64), "sequences per runner step", { value: "N" }),
  seed: flag(integer(0).default(0), "seed of the prompts and of the random-block control", {
    value: "S",
  }),
  out: flag(text.optional(), "where the profile goes", {
    value: "FILE",
    defaultText: "reports/MODEL/phasekv.profile.json",
  }),
  report: flag(text.optional(), "where the report goes (the plot beside it)", {
    value: "FILE",
    defaultText: "report.md beside --out",
  }),
};

/** The calibrate command's settings. */
export type CalibrateFlags = FlagValues<typeof CALIBRATE_FLAGS>;

/** Usage text of `deno task calibrate`. */
export const CALIBRATE_USAGE: string = usageText(
  "deno task calibrate [options]",
  CALIBRATE_FLAGS,
  "Chooses each phase's KV dtype from measured sensitivity and writes phasekv.profile.json.",
);

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let flags: CalibrateFlags | null;
  try {
    flags = parseFlags(CALIBRATE_FLAGS, args);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    console.error(`calibrate: ${e.message}\n\n${CALIBRATE_USAGE}`);
    return 2;
  }
  if (!flags) {
    console.log(CALIBRATE_USAGE);
    return 0;
  }
  const modelDir = (flags.model ?? DEFAULT_MODEL_DIR).replace(/\/+$/, "");
  const name = modelDir.split("/").at(-1)!;
  const out = flags.out ?? `reports/${name}/phasekv.profile.json`;
  const report = flags.report ?? `${dirname(out)}/report.md`;
  const plot = `${dirname(report)}/plot.svg`;
  const log = (line: string) => console.error(`calibrate: ${line}`);

  let evalSet: {
    calibration: ReturnType<typeof parseHeldout>;
    test: ReturnType<typeof parseHeldout>;
  } | undefined;
  if (flags.eval !== undefined) {
    const all = parseHeldout(await Deno.readTextFile(flags.eval));
    if (all.length <= flags.calibrationN) {
      console.error(
        `calibrate: --eval: ${flags.eval} holds ${all.length} problems; --calibration-n ` +
          `${flags.calibrationN} leaves none to test on`,
      );
      return 2;
    }
    evalSet = {
      calibration: all.slice(0, flags.calibrationN),
      test: all.slice(flags.calibrationN, flags.calibrationN + flags.testN),
    };
    log(
      `${flags.eval}: ${evalSet.calibration.length} problems to choose on, ${evalSet.test.length} to test on`,
    );
  }
  const { prompts, source } = await calibrationPrompts(modelDir, {
    file: flags.prompts,
    samples: flags.samples,
    seed: flags.seed,
  });
  if (!evalSet) log(`${prompts.length} prompts: ${source}`);
  const started = performance.now();
  const result = await calibrateModel({
    modelDir,
    prompts,
    eval: evalSet,
    ladder: flags.dtypes,
    recentTokens: flags.kvRecentTokens,
    blockSize: flags.blockSize,
    maxTokens: flags.maxTokens,
    maxFlipRate: flags.maxFlipRate,
    budgetBits: flags.budgetBits,
    probeTraces: flags.probeTraces,
    batch: flags.batch,
    seed: flags.seed,
    onProgress: log,
  });
  const seconds = (performance.now() - started) / 1000;
  const command = ["deno task calibrate", ...args].join(" ");
  for (const file of [out, report, plot]) await Deno.mkdir(dirname(file), { recursive: true });
  await Deno.writeTextFile(out, JSON.stringify(profileOf(result), null, 2) + "\n");
  await Deno.writeTextFile(
    report,
    renderReport(result, command, plot.split("/").at(-1)!) + `\nTook ${seconds.toFixed(0)} s.\n`,
  );
  await Deno.writeTextFile(plot, renderPareto(paretoPanels(result)));
  log(
    `chose ${
      result.chosen ? describePolicy(result.chosen.dtypes) : "f16"
    }; wrote ${out}, ${report}, ${plot}`,
  );
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (e) {
    console.error(`calibrate: ${(e as Error).message}`);
    Deno.exitCode = 1;
  }
}
