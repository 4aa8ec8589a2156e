/**
 * Whether the served profile is worth shipping: its row against uniform quantization at the
 * same stored bits (the uniform rows' frontier, interpolated linearly in bits between the two
 * that bracket it; no uniform dtype sits at a split's exact bits) and against the random-block
 * control, which stores the same bits with the phase taken out.
 * @module
 */
import type { ConfigRow } from "./evaluate.ts";
import { formatNumber } from "./report.ts";

/** A distortion metric read off a row; NaN when the row lacks it. */
type Metric = (row: ConfigRow) => number;

const METRICS: readonly [string, Metric][] = [
  ["attention KL", (r) => r.attentionKl.mean],
  ["next-token KL", (r) => r.nextTokenKl?.mean ?? NaN],
];

/** One metric of the served row beside its references at equal bits. */
export interface VerdictLine {
  metric: string;
  served: number;
  /** The uniform frontier at the served row's bits; NaN outside the uniform rows' range. */
  uniform: number;
  /** The random-block control's; NaN without one. */
  control: number;
}

/** The comparison and its outcome. */
export interface Verdict {
  lines: VerdictLine[];
  /** No measured metric is above the uniform frontier at equal bits. */
  notWorseThanUniform: boolean;
  markdown: string;
}

/** The uniform frontier's value of `metric` at `bits`, linear between bracketing rows. */
export function uniformAt(rows: readonly ConfigRow[], bits: number, metric: Metric): number {
  const uniform = rows.filter((r) => r.kind === "uniform" && Number.isFinite(metric(r)))
    .sort((a, b) => a.bitsPerElement - b.bitsPerElement);
  for (let i = 0; i + 1 < uniform.length; i++) {
    const [lo, hi] = [uniform[i], uniform[i + 1]];
    if (bits < lo.bitsPerElement || bits > hi.bitsPerElement) continue;
    const w = (bits - lo.bitsPerElement) / (hi.bitsPerElement - lo.bitsPerElement);
    return metric(lo) + w * (metric(hi) - metric(lo));
  }
  return uniform.length === 1 && uniform[0].bitsPerElement === bits ? metric(uniform[0]) : NaN;
}

/** Compares the row named `served` with uniform quantization and the control at its bits. */
export function servedVerdict(rows: readonly ConfigRow[], served: string): Verdict {
  const row = rows.find((r) => r.name === served);
  if (row === undefined) throw new RangeError(`No measured configuration is named ${served}`);
  // the control draws whole blocks, so its bits match the split's only to within a block
  const control = rows.filter((r) => r.kind === "random-blocks")
    .sort((a, b) => gap(a, row) - gap(b, row))[0];
  const lines = METRICS.map(([metric, read]): VerdictLine => ({
    metric,
    served: read(row),
    uniform: uniformAt(rows, row.bitsPerElement, read),
    control: control ? read(control) : NaN,
  })).filter((l) => Number.isFinite(l.served));
  const notWorseThanUniform = lines.every((l) =>
    Number.isFinite(l.uniform) && l.served <= l.uniform
  );
  const markdown = [
    `## The served profile at equal bits (${row.bitsPerElement.toFixed(3)} bits/elem)`,
    "",
    `| metric | served profile | uniform at these bits (interpolated) | random-block control${
      control ? ` (${control.bitsPerElement.toFixed(3)} bits/elem)` : ""
    } |`,
    "|---|---:|---:|---:|",
    ...lines.map((l) =>
      `| ${l.metric} | ${formatNumber(l.served)} | ${formatNumber(l.uniform)} | ${
        formatNumber(l.control)
      } |`
    ),
    "",
    `Verdict: the profile is ${notWorseThanUniform ? "not worse than" : "WORSE than"} uniform ` +
    "quantization at the same bits on every metric measured.",
    "",
  ].join("\n");
  return { lines, notWorseThanUniform, markdown };
}

function gap(a: ConfigRow, b: ConfigRow): number {
  return Math.abs(a.bitsPerElement - b.bitsPerElement);
}
