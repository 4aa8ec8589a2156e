/**
 * The calibration report (markdown), its Pareto plot's panels, and the profile the server reads.
 * @module
 */
import type { KvProfile } from "../kv/profile.ts";
import { PHASES } from "../kv/types.ts";
import type { CalibrationResult } from "./calibrate.ts";
import { formatPoints } from "./paired.ts";
import { frontier, type ParetoPanel } from "./pareto.ts";
import { describePolicy, type PhasePolicy } from "./search.ts";

const pct = (v: number, digits = 1) => `${(100 * v).toFixed(digits)}%`;
const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(2) : "n/a");

/** The profile to ship: the chosen policy (f16 when none met the goal) and the window. */
export function profileOf(r: CalibrationResult): KvProfile {
  const chosen = r.chosen;
  const f16 = r.rows.find((x) => x.kind === "f16")!;
  const test = r.test?.rows.find((x) => x.kind === "chosen");
  return {
    version: 1,
    model: r.model,
    phases: chosen?.dtypes ?? { prompt: "f16", think: "f16", answer: "f16" },
    recent_tokens: r.recentTokens,
    block_size: r.blockSize,
    demotion: r.demotion,
    measured: {
      goal: r.goal,
      traces: r.numTraces,
      flipRate: chosen?.measured.flipRate ?? 0,
      klP99: chosen?.measured.klP99 ?? 0,
      bytesPerToken: chosen?.bytesPerToken ?? f16.bytesPerToken,
      f16BytesPerToken: f16.bytesPerToken,
      longTrace: r.longTrace,
      test: test
        ? { n: r.test!.n, accuracy: test.accuracy, bytesPerToken: test.bytesPerToken }
        : null,
    },
  };
}

/** The plot's panels: flip rate on the calibration traces, and test accuracy when there is one. */
export function paretoPanels(r: CalibrationResult): ParetoPanel[] {
  const chosenName = r.chosen ? describePolicy(r.chosen.dtypes) : null;
  const panels: ParetoPanel[] = [{
    title: `Flip rate on ${r.numTraces} teacher-forced traces`,
    yLabel: "top-1 flip rate against f16",
    higherIsBetter: false,
    points: r.rows.map((row) => ({
      name: row.name,
      kind: row.name === chosenName ? "chosen" : row.kind,
      bytesPerToken: row.bytesPerToken,
      value: row.sensitivity.flipRate,
    })),
  }];
  if (r.test) {
    panels.push({
      title: `Accuracy on the test part (n=${r.test.n})`,
      yLabel: "exact-match accuracy",
      higherIsBetter: true,
      points: r.test.rows.map((row) => ({
        name: row.name,
        kind: row.kind,
        bytesPerToken: row.bytesPerToken,
        value: row.accuracy,
      })),
    });
  }
  return panels;
}

/** One plain sentence: is a phase-aware configuration on the frontier of the last panel? */
export function frontierSentence(panels: readonly ParetoPanel[], model: string): string {
  const p = panels.at(-1)!;
  const front = frontier(p.points, p.higherIsBetter);
  // a uniform policy is not phase-aware, whatever it is called on the plot
  const aware = front.filter((q) =>
    ["one phase", "phase split", "chosen"].includes(q.kind) && !q.name.includes("uniform")
  );
  const what = p.higherIsBetter ? "test accuracy" : "flip rate";
  return aware.length > 0
    ? `On ${model}, a phase-aware configuration is on the ${what} frontier (${
      aware.map((q) => q.name).join("; ")
    }).`
    : `On ${model}, no phase-aware configuration is on the ${what} frontier: uniform dtypes or the control are at least as good at equal bytes.`;
}

/** The report's markdown; `command` is how it was produced. */
export function renderReport(r: CalibrationResult, command: string, plotFile: string): string {
  const f16 = r.rows.find((x) => x.kind === "f16")!;
  const share = (b: number) => pct(b / f16.bytesPerToken, 0);
  const panels = paretoPanels(r);
  const lines: string[] = [
    `# Calibration of ${r.model}`,
    "",
    `Written by \`${command}\`. Phases: ${r.phaseRule}. Recent window: ${r.recentTokens} tokens ` +
    "kept f16 (a closed block is sealed once that many newer tokens stand behind it). Bytes per " +
    "token are counted as served: every block a sequence holds at its end (sealed blocks at their " +
    "dtype; the window, the open block and partial blocks at f16), every layer, every scale byte.",
    "",
  ];
  if (!r.test) {
    lines.push(
      "**No eval set was given: this profile rests on proxies only** (flip rate and next-token KL " +
        "on teacher-forced traces), not on task accuracy. Give `--eval FILE.jsonl` to validate it.",
      "",
    );
  }
  lines.push(
    "## Sensitivity, measured per phase",
    "",
    `${r.numTraces} f16 greedy generations of the model (${r.generatedTokens} generated tokens), ` +
      "each teacher-forced again on the served runner with the configuration's blocks sealed by " +
      "the served kernel as they leave the window. A flip is a position whose top-1 token differs " +
      "from f16's: where greedy decoding would part ways. Attention KL (with the model's real " +
      `queries) from ${r.probe?.traces ?? 0} captured traces, for one phase quantized alone. ` +
      "Blocks that left the window on these traces, by phase: " +
      PHASES.map((p) => `${p} ${r.sealedBlocks[p]}`).join(", ") +
      "; a phase with few or none is barely measured here, and its dtype weighs only on longer sequences.",
    "",
    "| configuration | bytes/token | of f16 | flips | flip rate | seqs flipped | KL mean | KL p99 | KL max | attention KL |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const row of r.rows) {
    const s = row.sensitivity;
    const one = row.kind === "one phase" && row.dtypes
      ? PHASES.find((p) => row.dtypes![p] !== "f16")
      : undefined;
    const att = one && r.probe ? sci(r.probe.attentionKl[`${one}/${row.dtypes![one]}`]) : "";
    lines.push(
      `| ${row.name} | ${row.bytesPerToken.toFixed(0)} | ${share(row.bytesPerToken)} | ` +
        `${s.flips}/${s.positions} | ${pct(s.flipRate, 2)} | ${pct(s.seqFlipRate, 0)} | ` +
        `${sci(s.klMean)} | ${sci(s.klP99)} | ${sci(s.klMax)} | ${att} |`,
    );
  }
  lines.push("", "## The seed's hypothesis beside the measurement", "");
  if (r.probe) {
    lines.push(
      `Key redundancy ρ (mean pairwise cosine of a phase's keys): ` +
        PHASES.map((p) => `${p} ${r.probe!.rho[p].toFixed(3)}`).join(", ") + ".",
      r.probe.taqg
        ? `The TAQG bound would lower the more redundant generated phase (${r.probe.taqg.high}) by ` +
          `${r.probe.taqg.gap} bit(s): **${describePolicy(r.probe.taqg.policy)}**.`
        : "The TAQG bound makes no choice here (think and answer have the same ρ).",
      `Measurement chose **${
        r.chosen ? describePolicy(r.chosen.dtypes) : "f16 (no candidate met the goal)"
      }**.`,
      "",
    );
  } else lines.push("Not probed (`--probe-traces 0`).", "");
  const goal = r.goal.kind === "floor"
    ? `the cheapest policy whose measured flip rate is at most ${pct(r.goal.maxFlipRate, 3)}`
    : `the least flips within ${r.goal.maxBytesPerToken.toFixed(0)} bytes per token`;
  lines.push(
    "## Search",
    "",
    `Goal: ${goal}. Candidates: every (prompt, think, answer) assignment of the ladder, ordered by ` +
      "bytes and by the flip rate predicted from the one-phase rows (1 − Π(1 − flip rate)); the " +
      "first ones measured jointly. A phase with no block out of the window on these traces cannot " +
      "be measured, so it takes the dtype of the phase with the most such blocks. A block's keys " +
      "and values share its dtype; the `kXvY` dtypes (k4v3, k3v2) are how a K/V split is served: " +
      "V one bit narrower than K.",
    "",
    "| candidate | bytes/token | predicted flip rate | measured flip rate | KL p99 |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...r.tried.map((c) =>
      `| ${describePolicy(c.dtypes)} | ${c.bytesPerToken.toFixed(0)} | ${
        pct(c.predictedFlipRate, 3)
      } | ` +
      `${pct(c.measured.flipRate, 3)} | ${sci(c.measured.klP99)} |`
    ),
    "",
    r.chosen
      ? `Chosen: **${describePolicy(r.chosen.dtypes)}**, ${
        r.chosen.bytesPerToken.toFixed(0)
      } bytes per ` +
        `token on these traces (${share(r.chosen.bytesPerToken)} of f16's ${
          f16.bytesPerToken.toFixed(0)
        }); ` +
        `on a ${r.longTrace.tokens}-token trace (64 prompt, 3/4 of the rest think) ` +
        `${r.longTrace.chosen.toFixed(0)} against ${r.longTrace.f16.toFixed(0)} (${
          pct(r.longTrace.chosen / r.longTrace.f16, 0)
        }).`
      : "No candidate met the goal; the profile keeps f16.",
    "",
    `Demotion under memory pressure (the profile's \`demotion\`, \`--kv-demotion\` overrides it): ` +
      (r.demotion === "none"
        ? "**none**: no phase has a narrower dtype whose flip rate, that phase alone, stays under " +
          "the floor (a phase with no block out of the window is not measured and not demoted)."
        : `**${r.demotion}**: each phase's narrowest dtype whose flip rate, that phase alone, ` +
          "stays under the floor; the least flipping first."),
    "",
  );
  if (r.test) {
    const t = r.test;
    lines.push(
      `## Validation on the test part (n=${t.n}, never used to choose)`,
      "",
      r.calibrationAccuracy !== null
        ? `f16 solved ${pct(r.calibrationAccuracy)} of the calibration part.\n`
        : "",
      "| configuration | bytes/token | of f16 | accuracy |",
      "| --- | ---: | ---: | ---: |",
      ...t.rows.map((row) =>
        `| ${row.name} | ${row.bytesPerToken.toFixed(0)} | ` +
        `${pct(row.bytesPerToken / t.rows[0].bytesPerToken, 0)} | ${pct(row.accuracy)} |`
      ),
      "",
      "Paired on the same problems: a − b in accuracy points with its 95% interval, the problems " +
        "only b solves (lost by a) and only a solves (gained by a), and the exact McNemar p-value:",
      "",
      "| a | b | a − b [95% interval] | lost | gained | McNemar p |",
      "| --- | --- | --- | ---: | ---: | ---: |",
      ...t.pairs.map(({ a, b, difference: d }) =>
        `| ${a} | ${b} | ${formatPoints(d)} | ${d.lost} | ${d.gained} | ${
          d.mcnemarP.toPrecision(2)
        } |`
      ),
      "",
    );
  }
  lines.push(
    "## Pareto plot",
    "",
    `![Pareto plot](${plotFile})`,
    "",
    frontierSentence(panels, r.model),
    "",
  );
  return lines.join("\n");
}

/** The policy as `prompt/think/answer`. */
export function slashes(d: PhasePolicy): string {
  return PHASES.map((p) => d[p]).join(" / ");
}
