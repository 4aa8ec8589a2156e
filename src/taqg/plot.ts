/**
 * The calibration plot as hand-written SVG: left, ρ per layer for each phase; right, attention
 * KL (log scale) against stored bits per element for each configuration.
 * @module
 */
import { type Phase, PHASES } from "../kv/types.ts";
import type { ConfigRow } from "./evaluate.ts";
import type { RedundancySummary } from "./redundancy.ts";

const WIDTH = 1200;
const HEIGHT = 420;
const PANEL = { top: 50, bottom: 360, width: 330 };
const LEFT_X = 70;
const RIGHT_X = 520;
const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
  "#393b79",
  "#637939",
];
const PHASE_COLORS: Record<Phase, string> = {
  prompt: "#7f7f7f",
  think: "#1f77b4",
  answer: "#ff7f0e",
};

interface Axis {
  min: number;
  max: number;
  log: boolean;
  /** Ticks on whole numbers only (layer indices). */
  integer?: boolean;
}

/** Renders both panels; every series is a `<g class="series">` with a legend entry. */
export function renderPlot(redundancy: RedundancySummary, rows: readonly ConfigRow[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    rhoPanel(redundancy),
    distortionPanel(rows),
    "</svg>",
    "",
  ].join("\n");
}

function rhoPanel(r: RedundancySummary): string {
  const phases = PHASES.filter((p) => r.byLayer[p].some((s) => s.count > 0));
  const numLayers = r.byLayer.prompt.length;
  const values = phases.flatMap((p) => r.byLayer[p].map((s) => s.mean)).filter(Number.isFinite);
  const y = padded(values, false);
  const x: Axis = { min: 0, max: Math.max(1, numLayers - 1), log: false, integer: true };
  const series = phases.map((p, i) => {
    const points = r.byLayer[p].flatMap((s, layer) =>
      Number.isFinite(s.mean) ? [[px(LEFT_X, x, layer), py(y, s.mean)]] : []
    );
    return seriesGroup(p, PHASE_COLORS[p], points, true, LEFT_X + PANEL.width + 12, i);
  });
  return panel(LEFT_X, "Redundancy ρ per layer", "layer", "ρ", x, y, series);
}

function distortionPanel(rows: readonly ConfigRow[]): string {
  const kls = rows.map((r) => r.attentionKl.mean);
  const positive = kls.filter((v) => v > 0);
  // zero KL (the f16 row) has no place on a log axis; it sits on the floor
  const floor = positive.length > 0 ? Math.min(...positive) / 10 : 1e-6;
  const y = padded(kls.map((v) => Math.max(v, floor)), true);
  const x = padded(rows.map((r) => r.bitsPerElement), false);
  const series = rows.map((row, i) =>
    seriesGroup(
      row.name,
      PALETTE[i % PALETTE.length],
      [[px(RIGHT_X, x, row.bitsPerElement), py(y, Math.max(kls[i], floor))]],
      false,
      RIGHT_X + PANEL.width + 12,
      i,
    )
  );
  return panel(
    RIGHT_X,
    "Attention KL vs stored bits",
    "bits per element (scales included)",
    "attention KL (log; 0 on the floor)",
    x,
    y,
    series,
  );
}

function panel(
  x0: number,
  title: string,
  xLabel: string,
  yLabel: string,
  x: Axis,
  y: Axis,
  series: string[],
): string {
  const { top, bottom, width } = PANEL;
  const fractions = [0, 0.25, 0.5, 0.75, 1];
  const xTicks = new Set(fractions.map((f) => {
    const v = x.min + f * (x.max - x.min);
    return x.integer ? Math.round(v) : v;
  }));
  const yTicks = fractions.map((f) =>
    y.log
      ? 10 ** (Math.log10(y.min) + f * (Math.log10(y.max) - Math.log10(y.min)))
      : y.min + f * (y.max - y.min)
  );
  const ticks = [
    ...[...xTicks].map((v) => {
      const tx = px(x0, x, v);
      return `<line x1="${tx}" y1="${bottom}" x2="${tx}" y2="${bottom + 5}" stroke="black"/>` +
        `<text x="${tx}" y="${bottom + 18}" text-anchor="middle">${tick(v)}</text>`;
    }),
    ...yTicks.map((v) => {
      const ty = py(y, v);
      return `<line x1="${x0 - 5}" y1="${ty}" x2="${x0}" y2="${ty}" stroke="black"/>` +
        `<text x="${x0 - 8}" y="${ty + 4}" text-anchor="end">${tick(v)}</text>`;
    }),
  ];
  return [
    `<g class="panel">`,
    `<text x="${x0 + width / 2}" y="${
      top - 20
    }" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<line x1="${x0}" y1="${bottom}" x2="${x0 + width}" y2="${bottom}" stroke="black"/>`,
    `<line x1="${x0}" y1="${top}" x2="${x0}" y2="${bottom}" stroke="black"/>`,
    ...ticks,
    `<text x="${x0 + width / 2}" y="${bottom + 38}" text-anchor="middle">${
      escapeXml(xLabel)
    }</text>`,
    `<text x="${x0 - 50}" y="${(top + bottom) / 2}" text-anchor="middle" transform="rotate(-90 ${
      x0 - 50
    } ${(top + bottom) / 2})">${escapeXml(yLabel)}</text>`,
    ...series,
    `</g>`,
  ].join("\n");
}

function seriesGroup(
  name: string,
  color: string,
  points: number[][],
  line: boolean,
  legendX: number,
  i: number,
): string {
  const marks = points.map(([cx, cy]) => `<circle cx="${cx}" cy="${cy}" r="4" fill="${color}"/>`);
  const path = line && points.length > 1
    ? `<polyline fill="none" stroke="${color}" stroke-width="2" points="${
      points.map((p) => p.join(",")).join(" ")
    }"/>`
    : "";
  const ly = PANEL.top + 8 + 15 * i;
  return [
    `<g class="series" data-name="${escapeXml(name)}">`,
    path,
    ...marks,
    `<rect x="${legendX}" y="${ly - 8}" width="10" height="10" fill="${color}"/>`,
    `<text x="${legendX + 14}" y="${ly + 1}" font-size="11">${escapeXml(name)}</text>`,
    `</g>`,
  ].join("");
}

function padded(values: number[], log: boolean): Axis {
  const finite = values.filter(Number.isFinite);
  let min = finite.length > 0 ? Math.min(...finite) : 0;
  let max = finite.length > 0 ? Math.max(...finite) : 1;
  if (log) return { min: min / 2, max: max * 2, log };
  if (max === min) [min, max] = [min - 0.5, max + 0.5];
  const pad = (max - min) * 0.08;
  return { min: min - pad, max: max + pad, log };
}

function px(x0: number, a: Axis, v: number): number {
  return round(x0 + ((v - a.min) / (a.max - a.min)) * PANEL.width);
}

function py(a: Axis, v: number): number {
  const f = a.log
    ? (Math.log10(v) - Math.log10(a.min)) / (Math.log10(a.max) - Math.log10(a.min))
    : (v - a.min) / (a.max - a.min);
  return round(PANEL.bottom - f * (PANEL.bottom - PANEL.top));
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

function tick(v: number): string {
  return v !== 0 && (Math.abs(v) < 0.01 || Math.abs(v) >= 1e4)
    ? v.toExponential(1)
    : String(Math.round(v * 100) / 100);
}

/** Escapes the five XML special characters. */
export function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  ).replaceAll("'", "&apos;");
}
