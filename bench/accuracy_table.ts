/**
 * The accuracy bench's rows as a markdown table and as JSON.
 * @module
 */
import type { Phase } from "../src/kv/types.ts";
import type { WeightsDtype } from "../src/model/weights_dtype.ts";

/** One configuration's result (snake_case: the JSON keeps these names). */
export interface Row {
  config: string;
  /** How the model's matrices were stored (--weights-dtype). */
  weights: WeightsDtype;
  /** Canonical dtype per phase; null for a skipped row. */
  dtypes: Record<Phase, string> | null;
  bits_per_element: number | null;
  accuracy: number | null;
  n: number;
  correct: number;
  think_fraction: number | null;
  seconds: number | null;
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
    dtypes: null,
    bits_per_element: null,
    accuracy: null,
    n: 0,
    correct: 0,
    think_fraction: null,
    seconds: null,
    note,
  };
}

/** The rows as a markdown table, then the notes of skipped rows and what bits/element counts. */
export function formatTable(rows: readonly Row[]): string {
  const fixed = (x: number | null, digits: number) => x === null ? "—" : x.toFixed(digits);
  const lines = [
    "| config | weights | prompt | think | answer | bits/element | accuracy | correct / n | think fraction | seconds |",
    "|---|---|---|---|---|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const d = r.dtypes ?? { prompt: "—", think: "—", answer: "—" };
    const accuracy = r.accuracy === null ? "—" : `${(100 * r.accuracy).toFixed(1)}%`;
    const cells = [
      r.config,
      r.weights,
      d.prompt,
      d.think,
      d.answer,
      fixed(r.bits_per_element, 3),
      accuracy,
      `${r.correct} / ${r.n}`,
      fixed(r.think_fraction, 3),
      fixed(r.seconds, 1),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push("");
  for (const r of rows) if (r.note) lines.push(`${r.config}: ${r.note}`);
  lines.push(
    "bits/element: the engine's usage.kv.bitsPerElement per request, weighted by its cached " +
      "tokens; whole blocks count, so each phase's last, partly filled block (and the open f16 " +
      "block) lift short sequences above the dtype's own bits.",
  );
  return lines.join("\n");
}

/** The rows as JSON rows. */
export function jsonRows(rows: readonly Row[]): JsonRow[] {
  return rows.map(({ dtypes, ...r }) => ({ ...r, ...dtypes }));
}
