/**
 * The Pareto plot of calibration: quality against KV bytes per token as served, one point per
 * configuration (phase splits, uniform dtypes, the random-block control, f16), the frontier drawn
 * through the configurations no other beats on both axes. Hand-written SVG, no dependency.
 * @module
 */

/** One configuration on the plot. */
export interface ParetoPoint {
  name: string;
  kind: string;
  bytesPerToken: number;
  /** Higher is better (accuracy), or lower is better (flip rate): see `higherIsBetter`. */
  value: number;
}

/** A panel: its points and what its y axis means. */
export interface ParetoPanel {
  title: string;
  yLabel: string;
  higherIsBetter: boolean;
  points: readonly ParetoPoint[];
}

const COLORS: Record<string, string> = {
  "f16": "#444444",
  "one phase": "#9ecae1",
  "uniform": "#2ca02c",
  "phase split": "#1f77b4",
  "chosen": "#d62728",
  "random control": "#ff7f0e",
};
const W = 560, H = 420, M = { left: 70, right: 20, top: 40, bottom: 60 };

/** The points on the frontier: no other point has fewer or equal bytes and a better value. */
export function frontier(points: readonly ParetoPoint[], higherIsBetter: boolean): ParetoPoint[] {
  const better = (a: number, b: number) => (higherIsBetter ? a > b : a < b);
  const ok = points.filter((p) => Number.isFinite(p.bytesPerToken) && Number.isFinite(p.value));
  return ok.filter((p) =>
    !ok.some((q) =>
      q !== p && q.bytesPerToken <= p.bytesPerToken && !better(p.value, q.value) &&
      (q.bytesPerToken < p.bytesPerToken || better(q.value, p.value))
    )
  ).sort((a, b) => a.bytesPerToken - b.bytesPerToken);
}

/** The SVG with one panel per entry of `panels`, side by side. */
export function renderPareto(panels: readonly ParetoPanel[]): string {
  const width = W * panels.length;
  const legendKinds = [...new Set(panels.flatMap((p) => p.points.map((q) => q.kind)))];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
      H + 30
    }" viewBox="0 0 ${width} ${H + 30}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${H + 30}" fill="white"/>`,
    ...panels.map((p, i) => panel(p, i * W)),
    ...legendKinds.map((k, i) =>
      `<g class="legend"><circle cx="${20 + i * 150}" cy="${H + 15}" r="5" fill="${
        COLORS[k] ?? "#000"
      }"/>` +
      `<text x="${30 + i * 150}" y="${H + 19}">${escapeXml(k)}</text></g>`
    ),
    `<text x="${width - 10}" y="${H + 19}" text-anchor="end">dashed: Pareto frontier</text>`,
    "</svg>",
    "",
  ].join("\n");
}

function panel(p: ParetoPanel, x0: number): string {
  const pts = p.points.filter((q) => Number.isFinite(q.bytesPerToken) && Number.isFinite(q.value));
  const xs = pts.map((q) => q.bytesPerToken), ys = pts.map((q) => q.value);
  const [xMin, xMax] = range(xs, 0), [yMin, yMax] = range(ys, 0.05);
  const sx = (v: number) => x0 + M.left + ((v - xMin) / (xMax - xMin)) * (W - M.left - M.right);
  const sy = (v: number) => M.top + (1 - (v - yMin) / (yMax - yMin)) * (H - M.top - M.bottom);
  const front = frontier(pts, p.higherIsBetter);
  const out = [
    `<g class="panel"><text x="${x0 + W / 2}" y="22" text-anchor="middle" font-size="14">${
      escapeXml(p.title)
    }</text>`,
    `<line x1="${sx(xMin)}" y1="${sy(yMin)}" x2="${sx(xMax)}" y2="${sy(yMin)}" stroke="#000"/>`,
    `<line x1="${sx(xMin)}" y1="${sy(yMin)}" x2="${sx(xMin)}" y2="${sy(yMax)}" stroke="#000"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const xv = xMin + (i / 4) * (xMax - xMin), yv = yMin + (i / 4) * (yMax - yMin);
    out.push(
      `<text x="${sx(xv)}" y="${sy(yMin) + 16}" text-anchor="middle">${fmt(xv)}</text>`,
      `<text x="${sx(xMin) - 6}" y="${sy(yv) + 4}" text-anchor="end">${fmt(yv)}</text>`,
    );
  }
  out.push(
    `<text x="${x0 + W / 2}" y="${
      H - 15
    }" text-anchor="middle">KV bytes per token as served (all layers)</text>`,
    `<text transform="translate(${x0 + 16},${
      (M.top + H - M.bottom) / 2
    }) rotate(-90)" text-anchor="middle">${escapeXml(p.yLabel)}</text>`,
  );
  if (front.length > 1) {
    const path = front.map((q, i) =>
      `${i ? "L" : "M"}${sx(q.bytesPerToken).toFixed(1)},${sy(q.value).toFixed(1)}`
    );
    out.push(
      `<path class="frontier" d="${
        path.join(" ")
      }" fill="none" stroke="#000" stroke-dasharray="5,4"/>`,
    );
  }
  for (const q of pts) {
    const onFront = front.includes(q);
    out.push(
      `<g class="point"><circle cx="${sx(q.bytesPerToken).toFixed(1)}" cy="${
        sy(q.value).toFixed(1)
      }" r="${onFront ? 6 : 4}" fill="${COLORS[q.kind] ?? "#000"}"${
        onFront ? ' stroke="#000"' : ""
      }><title>${
        escapeXml(`${q.name}: ${fmt(q.value)} at ${q.bytesPerToken.toFixed(0)} B/token`)
      }</title></circle></g>`,
    );
    if (onFront || q.kind === "chosen" || q.kind === "random control") {
      out.push(
        `<text x="${(sx(q.bytesPerToken) + 7).toFixed(1)}" y="${
          (sy(q.value) - 6).toFixed(1)
        }" font-size="10">${escapeXml(q.name)}</text>`,
      );
    }
  }
  out.push("</g>");
  return out.join("\n");
}

function range(values: readonly number[], pad: number): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi === lo) [lo, hi] = [lo - 1e-3 - Math.abs(lo) * 0.1, hi + 1e-3 + Math.abs(hi) * 0.1];
  const span = hi - lo;
  return [lo - span * pad, hi + span * pad];
}

function fmt(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** `text` with XML's special characters escaped. */
export function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}
