import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import type { ConfigRow } from "../src/taqg/evaluate.ts";
import { renderPlot } from "../src/taqg/plot.ts";
import type { RedundancySummary } from "../src/taqg/redundancy.ts";
import { formatNumber, renderConfigTable, renderReport } from "../src/taqg/report.ts";
import { spreadOf } from "../src/taqg/stats.ts";

interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}

/** A strict little XML parser: balanced tags, quoted attributes, known entities only. */
function parseXml(text: string): XmlNode {
  const root: XmlNode = { name: "#root", attrs: {}, children: [] };
  const stack = [root];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (const m of text.matchAll(token)) {
    if (m[6]) throw new SyntaxError(`Malformed tag at ${m.index}`);
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) {
        throw new SyntaxError(`Bad entity at ${m.index}`);
      }
      continue;
    }
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      const open = stack.pop()!;
      if (open.name !== name) throw new SyntaxError(`</${name}> closes <${open.name}>`);
      continue;
    }
    const attrs = Object.fromEntries(
      [...attrText.matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]),
    );
    const node = { name, attrs, children: [] };
    stack.at(-1)!.children.push(node);
    if (!selfClose) stack.push(node);
  }
  if (stack.length !== 1) throw new SyntaxError(`<${stack.at(-1)!.name}> is never closed`);
  if (root.children.length !== 1) throw new SyntaxError("An XML document has one root element");
  return root.children[0];
}

function all(node: XmlNode, pred: (n: XmlNode) => boolean): XmlNode[] {
  return [...(pred(node) ? [node] : []), ...node.children.flatMap((c) => all(c, pred))];
}

function row(name: string, bits: number, kl: number[]): ConfigRow {
  return {
    name,
    kind: "uniform",
    allocation: null,
    bitsPerElement: bits,
    bytesPerToken: bits * 64,
    attentionKl: spreadOf(kl),
    outputError: spreadOf(kl.map((x) => x * 10)),
    nextTokenKl: null,
    perLayerKl: kl,
  };
}

const rows = [
  row("uniform f16", 16, [0, 0]),
  row("uniform int4", 4.5, [0.001, 0.003]),
  row("TAQG-aligned (think int3) <&>", 3.8, [0.002, 0.004]),
];
const redundancy: RedundancySummary = {
  byPhase: { prompt: spreadOf([]), think: spreadOf([0.6, 0.62]), answer: spreadOf([0.4, 0.45]) },
  byLayer: {
    prompt: [spreadOf([]), spreadOf([])],
    think: [spreadOf([0.5]), spreadOf([0.7])],
    answer: [spreadOf([0.4]), spreadOf([0.45])],
  },
};

Deno.test("renderConfigTable() has a header and one row per configuration", () => {
  const lines = renderConfigTable(rows).split("\n");
  assertEquals(lines.length, 2 + rows.length);
  assertStringIncludes(lines[3], "| uniform int4 | 4.500 | 288 | 0.00200 ± 0.00100 |");
  assertStringIncludes(lines[2], "| n/a |");
});

Deno.test("renderReport() shows ρ per phase, the configurations and the paper's metric", () => {
  const md = renderReport({
    model: "tiny",
    numTraces: 2,
    redundancy,
    rows,
    paperRows: [{
      name: "aligned",
      bThink: 3,
      bAnswer: 4,
      bitsPerElement: 3.25,
      kl: spreadOf([0.01, 0.03]),
    }],
    paperRho: { think: spreadOf([0.463]), answer: spreadOf([0.544]) },
  });
  assertStringIncludes(md, "| think | 0.610 ± 0.0100 |");
  assertStringIncludes(md, "| prompt | n/a |");
  assertStringIncludes(md, "| aligned | 3 / 4 | 3.250 | 0.0200 ± 0.0100 |");
  assertStringIncludes(md, "think 0.463 ± 0.00, answer 0.544 ± 0.00");
});

Deno.test("formatNumber() keeps three significant digits", () => {
  assertEquals(formatNumber(0.000123456), "1.23e-4");
  assertEquals(formatNumber(12.345), "12.3");
  assertEquals(formatNumber(NaN), "n/a");
});

Deno.test("renderPlot() is well-formed XML with one series per phase and per configuration", () => {
  const svg = parseXml(renderPlot(redundancy, rows));
  assertEquals(svg.name, "svg");
  const series = all(svg, (n) => n.attrs.class === "series");
  // think and answer have per-layer ρ (prompt has none), then three configurations
  assertEquals(series.map((s) => s.attrs["data-name"]), [
    "think",
    "answer",
    "uniform f16",
    "uniform int4",
    "TAQG-aligned (think int3) &lt;&amp;&gt;",
  ]);
  assertEquals(all(svg, (n) => n.attrs.class === "panel").length, 2);
  const coords = all(svg, (n) => n.name === "circle").flatMap((
    c,
  ) => [Number(c.attrs.cx), Number(c.attrs.cy)]);
  assert(coords.every(Number.isFinite), "every point has finite coordinates");
});

Deno.test("the test's XML parser rejects unbalanced markup", () => {
  assertThrows(() => parseXml("<svg><g></svg>"), SyntaxError);
  assertThrows(() => parseXml("<svg>a & b</svg>"), SyntaxError);
});
