/**
 * Prometheus text exposition (format 0.0.4): metric family headers and sample lines.
 * @module
 */

/** Label names to values of one sample. */
export type Labels = Record<string, string>;

/** One sample of a metric family. */
export interface Sample {
  /** Suffix after the family name (`_bucket`, `_sum`), empty for plain samples. */
  suffix?: string;
  labels?: Labels;
  value: number;
}

/** The exposition lines of one metric family. */
export function family(
  name: string,
  type: "gauge" | "counter" | "histogram",
  help: string,
  samples: readonly Sample[],
): string[] {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const s of samples) {
    lines.push(`${name}${s.suffix ?? ""}${labelText(s.labels)} ${num(s.value)}`);
  }
  return lines;
}

function labelText(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function num(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
