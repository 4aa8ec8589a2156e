/**
 * The markdown of `bench:kv`: size and distortion tables, and the codec table the README
 * carries (tests/bench_kv_test.ts checks the README's copy against the committed report).
 * @module
 */
import { KV_DTYPES } from "../src/kv/dtype.ts";
import type { DistortionRow } from "./kv_distortion.ts";
import type { SizeRow } from "./kv_size.ts";

/** Any row of `bench:kv`; `kind` says which table it belongs to. */
export interface KvBenchRow {
  readonly kind: string;
}

const sci = (x: number) => x.toExponential(2);
const fix = (x: number, digits = 3) => x.toFixed(digits);

function table(header: string[], rows: string[][]): string {
  const lines = [header, header.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`);
  return lines.join("\n");
}

/** Rows of one kind. */
export function rowsOf<T>(rows: readonly KvBenchRow[], kind: string): T[] {
  return rows.filter((r) => r.kind === kind) as unknown as T[];
}

/** The size table of one shape. */
export function sizeTable(rows: readonly SizeRow[], shape: string): string {
  return table(
    [
      "config",
      "nominal bits",
      "bits/element",
      "bytes/token",
      "ratio to f16",
      "4k trace bytes/token",
      "4k trace ratio to f16",
    ],
    rows.filter((r) => r.shape === shape).map((r) => [
      r.config,
      fix(r.nominal_bits, 2),
      fix(r.bits_per_element),
      fix(r.bytes_per_token, 1),
      fix(r.ratio_to_f16),
      fix(r.trace_bytes_per_token, 1),
      fix(r.trace_ratio_to_f16),
    ]),
  );
}

/** The distortion table of one source, both spaces side by side. */
export function distortionTable(rows: readonly DistortionRow[], source: string): string {
  const mine = rows.filter((r) => r.source === source);
  const dtypes = [...new Set(mine.map((r) => r.dtype))];
  const cell = (dtype: string, space: string, f: (r: DistortionRow) => string) => {
    const r = mine.find((r) => r.dtype === dtype && r.space === space);
    return r ? `${f(r)}${r.served ? " *" : ""}` : "–";
  };
  return table(
    [
      "dtype",
      "bits/element",
      "attention KL plain",
      "attention KL rotated",
      "output rel. error plain",
      "output rel. error rotated",
    ],
    dtypes.map((d) => [
      d,
      fix(mine.find((r) => r.dtype === d)!.bits_per_element),
      cell(d, "plain", (r) => sci(r.attention_kl)),
      cell(d, "rotated", (r) => sci(r.attention_kl)),
      cell(d, "plain", (r) => fix(r.output_rel_error, 4)),
      cell(d, "rotated", (r) => fix(r.output_rel_error, 4)),
    ]),
  );
}

/** How the codec table names each family. */
const FAMILY_LABELS: Readonly<Record<string, string>> = {
  vec: "per vector (rotated)",
  sym: "per vector, symmetric (rotated)",
  zp: "per vector, zero point (rotated)",
  int: "KIVI",
};

/**
 * The README's codec table: each quantized dtype's family, bits per element at head_dim 128
 * (R1-Distill-Qwen-1.5B) and 32 (the default model), and its distortion on the default model in
 * the space that model's engine keeps K and V in.
 */
export function codecTable(
  rows: readonly KvBenchRow[],
  opts: { wideShape: string; defaultShape: string; source: string; space: string },
): string {
  const sizes = rowsOf<SizeRow>(rows, "size");
  const dist = rowsOf<DistortionRow>(rows, "distortion");
  const bpe = (shape: string, dtype: string) =>
    sizes.find((r) => r.shape === shape && r.config === dtype)?.bits_per_element;
  return table(
    [
      "dtype",
      "family",
      "bits/element d128",
      "bits/element d32",
      "attention KL",
      "output rel. error",
    ],
    KV_DTYPES.filter((d) => d.kind !== "f16").map((d) => {
      const r = dist.find((r) =>
        r.source === opts.source && r.dtype === d.name && r.space === opts.space
      );
      const wide = bpe(opts.wideShape, d.name), narrow = bpe(opts.defaultShape, d.name);
      return [
        d.name,
        FAMILY_LABELS[d.kind] ?? d.kind,
        wide === undefined ? "–" : fix(wide, 2),
        narrow === undefined ? "–" : fix(narrow, 2),
        r ? sci(r.attention_kl) : "–",
        r ? fix(r.output_rel_error, 4) : "–",
      ];
    }),
  );
}
