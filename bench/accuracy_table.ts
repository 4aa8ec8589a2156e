/**
 * The accuracy bench's rows as a markdown table and as JSON.
 * @module
 */
import type { Phase } from "../src/kv/types.ts";
import type { WeightsDtype } from "../src/model/weights_dtype.ts";
import { formatPoints, type PairedDifference } from "../src/taqg/paired.ts";

/** One configuration's result (snake_case: the JSON keeps these names). */
export interface Row {
  config: string;
  /** How the model's matrices were stored (--weights-dtype). */
  weights: WeightsDtype;
  /** The full-precision recent window the row ran with, in tokens (null: skipped). */
  recent_tokens: number | null;
  /** Canonical dtype per phase; null for a skipped row. */
  dtypes: Record<Phase, string> | null;
  bits_per_element: number | null;
  /** KV bytes held per token as served (window, open and partial blocks included). */
  bytes_per_token: number | null;
  accuracy: number | null;
  n: number;
  correct: number;
  think_fraction: number | null;
  seconds: number | null;
  /** Against the f16 row on the same problems; null for f16 itself and skipped rows. */
  paired: PairedDifference | null;
  /** "1" per solved problem, "0" per failed one, in problem order. */
  outcomes: string;
  /** Why the row has no figures. */
  note?: string;
}

/** A JSON row: the row with its dtypes spread as prompt, think and answer. */
export type JsonRow = Omit<Row, "dtypes"> & Partial<Record<Phase, string>>;

/** A row for a configuration that did not run. */
export function skippedRow(config: string, note: string, weights: WeightsDtype = "f16"): Row {
  return {
    config,
    weights,
    recent_tokens: null,
    dtypes: null,
    bits_per_element: null,
    bytes_per_token: null,
    accuracy: null,
    n: 0,
    correct: 0,
    think_fraction: null,
    seconds: null,
    paired: null,
    outcomes: "",
    note,
  };
}

/** The rows as a markdown table, then the notes of skipped rows and what the columns count. */
export function formatTable(rows: readonly Row[]): string {
  const fixed = (x: number | null, digits: number) => x === null ? "—" : x.toFixed(digits);
  const f16 = rows.find((r) => r.config === "f16" && r.bytes_per_token !== null);
  const lines = [
    "| config | weights | R | prompt | think | answer | bits/element | bytes/token | vs f16 bytes | accuracy | correct / n | lost / gained | Δ vs f16, pt [95% CI] | McNemar p | seconds |",
    "|---|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
  ];
  for (const r of rows) {
    const d = r.dtypes ?? { prompt: "—", think: "—", answer: "—" };
    const accuracy = r.accuracy === null ? "—" : `${(100 * r.accuracy).toFixed(1)}%`;
    const ratio = f16?.bytes_per_token && r.bytes_per_token !== null
      ? `${(100 * r.bytes_per_token / f16.bytes_per_token).toFixed(1)}%`
      : "—";
    const cells = [
      r.config,
      r.weights,
      r.recent_tokens === null ? "—" : String(r.recent_tokens),
      d.prompt,
      d.think,
      d.answer,
      fixed(r.bits_per_element, 3),
      fixed(r.bytes_per_token, 1),
      ratio,
      accuracy,
      `${r.correct} / ${r.n}`,
      r.paired ? `${r.paired.lost} / ${r.paired.gained}` : "—",
      r.paired ? formatPoints(r.paired) : "—",
      r.paired ? r.paired.mcnemarP.toPrecision(2) : "—",
      fixed(r.seconds, 1),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push("");
  for (const r of rows) if (r.note) lines.push(`${r.config}: ${r.note}`);
  lines.push(
    "R: the full-precision recent window (a closed block is quantized once R newer tokens stand " +
      "behind it). bits/element and bytes/token: what each request's KV held when it finished " +
      "(the engine's usage.kv), weighted by its cached tokens; whole blocks count, so the window, " +
      "the open block and each phase's last, partly filled block are included. lost / gained and " +
      "Δ: paired with f16 on the same problems; the interval is the normal approximation to the " +
      "paired differences.",
  );
  return lines.join("\n");
}

/** The rows as JSON rows. */
export function jsonRows(rows: readonly Row[]): JsonRow[] {
  return rows.map(({ dtypes, ...r }) => ({ ...r, ...dtypes }));
}
