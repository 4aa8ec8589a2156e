/**
 * The calibration report in markdown: ρ per phase, then one row per configuration with its
 * stored size and every distortion metric as mean ± std, then the paper's own metric.
 * @module
 */
import { type Phase, PHASES } from "../kv/types.ts";
import type { ConfigRow } from "./evaluate.ts";
import type { PaperRow } from "./paper_baseline.ts";
import type { RedundancySummary } from "./redundancy.ts";
import type { Spread } from "./stats.ts";

/** Everything the markdown report shows. */
export interface ReportInput {
  model: string;
  numTraces: number;
  redundancy: RedundancySummary;
  rows: readonly ConfigRow[];
  paperRows: readonly PaperRow[];
  /** The paper's ρ (head-averaged keys), spread over traces. */
  paperRho: { think: Spread; answer: Spread };
}

/** Formats a figure with three significant digits, in exponent form when small. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential(2);
  return x.toPrecision(3);
}

/** `mean ± std`, or "n/a" for a missing or empty spread. */
export function formatSpread(s: Spread | null): string {
  if (s === null || s.count === 0) return "n/a";
  return `${formatNumber(s.mean)} ± ${formatNumber(s.std)}`;
}

/** One markdown table row per configuration. */
export function renderConfigTable(rows: readonly ConfigRow[]): string {
  const lines = [
    "| configuration | bits/elem | bytes/token | attention KL | output rel. error | next-token KL | attention KL p95 |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${escapeCell(r.name)} | ${r.bitsPerElement.toFixed(3)} | ${
        r.bytesPerToken.toFixed(0)
      } | ` +
        `${formatSpread(r.attentionKl)} | ${formatSpread(r.outputError)} | ${
          formatSpread(r.nextTokenKl)
        } | ` +
        `${formatNumber(r.attentionKl.p95)} |`,
    );
  }
  return lines.join("\n");
}

/** The full report. */
export function renderReport(input: ReportInput): string {
  const rhoRows = PHASES.map((p: Phase) =>
    `| ${p} | ${formatSpread(input.redundancy.byPhase[p])} |`
  );
  const paper = input.paperRows.map((r) =>
    `| ${escapeCell(r.name)} | ${r.bThink} / ${r.bAnswer} | ${r.bitsPerElement.toFixed(3)} | ${
      formatSpread(r.kl)
    } |`
  );
  return [
    `# KV calibration: ${input.model}`,
    "",
    `${input.numTraces} trace(s). Distortion is measured against the f16 cache with the model's own`,
    "queries; bits per element include every scale byte. Compare rows at equal bytes per token.",
    "",
    "## Redundancy ρ (mean pairwise key cosine, per layer and KV head)",
    "",
    "| phase | ρ (mean ± std over traces) |",
    "|---|---:|",
    ...rhoRows,
    "",
    "## Configurations",
    "",
    renderConfigTable(input.rows),
    "",
    "## The paper's own metric on the same tensors",
    "",
    "Head-averaged keys of generated tokens, one min–max scale per phase tensor (the reference",
    "library's quantizer; its experiment script uses symmetric abs-max), values unquantized, the",
    "first ten answer keys as queries over a non-causal softmax. Bits exclude scales.",
    `Its ρ on these tensors: think ${formatSpread(input.paperRho.think)}, answer ${
      formatSpread(input.paperRho.answer)
    }.`,
    "",
    "| split | think / answer bits | bits/elem (no scales) | attention KL |",
    "|---|---|---:|---:|",
    ...paper,
    "",
  ].join("\n");
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|");
}
