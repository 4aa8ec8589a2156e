import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  CALIBRATED,
  DEFAULT_CONFIGS,
  engineKvOptions,
  parseConfig,
  parseConfigList,
} from "../bench/accuracy_configs.ts";
import {
  answerText,
  isCorrect,
  parseHeldout,
  type RequestResult,
  scoreRequest,
  summarize,
} from "../bench/accuracy_score.ts";
import { formatTable, jsonRows, type Row, skippedRow } from "../bench/accuracy_table.ts";
import { mcnemar, pairedDifference } from "../src/taqg/paired.ts";
import type { GenerateOutput, GenerateUsage } from "../src/engine/types.ts";
import { UnknownKvDtypeError } from "../src/kv/dtype.ts";

function usage(bitsPerElement: number, tokens: [number, number, number]): GenerateUsage {
  const phase = (n: number) => ({ tokens: n, blocks: 0, bytes: n * 10, dtypes: {} });
  return {
    promptTokens: tokens[0],
    completionTokens: tokens[1] + tokens[2],
    reasoningTokens: tokens[1],
    kv: {
      bytesPerToken: 0,
      bitsPerElement,
      phases: { prompt: phase(tokens[0]), think: phase(tokens[1]), answer: phase(tokens[2]) },
    },
  };
}

Deno.test("a dtype name stores every phase in it; aliases become registry names", () => {
  assertEquals(parseConfig("int4").dtypes, { prompt: "int4", think: "int4", answer: "int4" });
  assertEquals(parseConfig(" fp8_e4m3 ").dtypes, { prompt: "fp8", think: "fp8", answer: "fp8" });
});

Deno.test("phase=dtype pairs leave the unnamed phases at f16", () => {
  const c = parseConfig("think=int4+answer=q8");
  assertEquals(c.name, "think=int4+answer=q8");
  assertEquals(c.dtypes, { prompt: "f16", think: "int4", answer: "int8" });
  assertEquals(engineKvOptions(c.dtypes!), {
    kvCacheDtype: "f16",
    kvCacheDtypeThink: "int4",
    kvCacheDtypeAnswer: "int8",
  });
  assertEquals(parseConfig("prompt=int8+think=int2").dtypes, {
    prompt: "int8",
    think: "int2",
    answer: "f16",
  });
});

Deno.test("calibrated defers to the profile; bad names are rejected", () => {
  assertEquals(parseConfig(CALIBRATED).dtypes, null);
  assertThrows(() => parseConfig("int5"), UnknownKvDtypeError);
  assertThrows(() => parseConfig("thought=int4"), RangeError, "phase=dtype");
  assertThrows(() => parseConfig("think=int4+think=int8"), RangeError, "twice");
  assertThrows(() => parseConfig("think=int4=int8"), RangeError);
  assertThrows(() => parseConfigList("int4,int4"), RangeError, "twice");
  assertThrows(() => parseConfigList(" , "), RangeError);
});

Deno.test("the default list parses and covers uniform, both split directions and calibrated", () => {
  const names = parseConfigList(DEFAULT_CONFIGS.join(",")).map((c) => c.name);
  for (const name of ["f16", "int8", "int4", "int3", "int2", "fp8", CALIBRATED]) {
    assert(names.includes(name), name);
  }
  assert(names.includes("think=int4+answer=int8") && names.includes("think=int8+answer=int4"));
  assert(names.includes("think=int3+answer=int4") && names.includes("think=int4+answer=int3"));
});

Deno.test("the answer is the answer-phase text, matched exactly after trimming", () => {
  const outputs: Pick<GenerateOutput, "text" | "phase">[] = [
    { text: "12+0030\n2+0+0=2 c0\n", phase: "think" },
    { text: "\n\n12 + ", phase: "answer" },
    { text: "30 = 42", phase: "answer" },
  ];
  assertEquals(answerText(outputs), "\n\n12 + 30 = 42");
  assert(isCorrect(answerText(outputs), "12 + 30 = 42"));
  assert(!isCorrect("12 + 30 = 4", "12 + 30 = 42"));
  assert(!isCorrect("12+30=42", "12 + 30 = 42"));
  assertEquals(answerText([{ text: "never closed", phase: "think" }]), "");
});

Deno.test("scoreRequest reads the last output's usage and counts every cached token", () => {
  const r = scoreRequest([
    { text: "trace", phase: "think" },
    { text: " 7 ", phase: "answer", usage: usage(5, [10, 30, 4]) },
  ], "7");
  assertEquals(r, {
    correct: true,
    kvTokens: 44,
    kvBytes: 44 * 10,
    bitsPerElement: 5,
    completionTokens: 34,
    reasoningTokens: 30,
  });
  assertThrows(() => scoreRequest([{ text: "7", phase: "answer" }], "7"), Error, "usage");
});

Deno.test("summarize weights bits per element by KV tokens", () => {
  const r = (correct: boolean, kvTokens: number, bits: number): RequestResult => ({
    correct,
    kvTokens,
    kvBytes: kvTokens * bits,
    bitsPerElement: bits,
    completionTokens: kvTokens - 10,
    reasoningTokens: (kvTokens - 10) / 2,
  });
  const s = summarize([r(true, 30, 4), r(false, 90, 8)]);
  assertEquals(s.n, 2);
  assertEquals(s.correct, 1);
  assertEquals(s.accuracy, 0.5);
  assertEquals(s.bitsPerElement, (30 * 4 + 90 * 8) / 120);
  assertEquals(s.bytesPerToken, (30 * 4 + 90 * 8) / 120);
  assertEquals(s.outcomes, [true, false]);
  assertEquals(s.thinkFraction, 0.5);
  assertEquals(summarize([]).bitsPerElement, 0);
});

Deno.test("parseHeldout reads JSON lines and names a bad line", () => {
  const line = JSON.stringify({
    prompt: "What is 1+2?",
    messages: [{ role: "user", content: "What is 1+2?" }],
    answer: "1 + 2 = 3",
    result: 3,
    completion: "0001+0002\n1+2+0=3 c0\n</think>\n\n1 + 2 = 3",
  });
  const problems = parseHeldout(`${line}\n\n${line}\n`);
  assertEquals(problems.length, 2);
  assertEquals(problems[0].answer, "1 + 2 = 3");
  assertThrows(() => parseHeldout(`${line}\n{"answer": "3"}`), RangeError, "line 2");
});

Deno.test("the table shows skipped rows with their note; JSON rows spread the dtypes", () => {
  const f16: Row = {
    config: "f16",
    weights: "f16",
    recent_tokens: 16,
    dtypes: { prompt: "f16", think: "f16", answer: "f16" },
    bits_per_element: 16,
    bytes_per_token: 200,
    accuracy: 1,
    n: 10,
    correct: 10,
    think_fraction: 0.75,
    seconds: 1,
    paired: null,
    outcomes: "1111111111",
  };
  const ran: Row = {
    ...f16,
    config: "int4",
    weights: "int8",
    dtypes: { prompt: "int4", think: "int4", answer: "int4" },
    bits_per_element: 5.25,
    bytes_per_token: 50,
    accuracy: 0.9,
    correct: 9,
    seconds: 1.5,
    paired: pairedDifference([...Array(9).fill(true), false], Array(10).fill(true)),
    outcomes: "1111111110",
  };
  const rows = [f16, ran, skippedRow(CALIBRATED, "skipped: no profile")];
  const text = formatTable(rows);
  assert(
    text.includes(
      "| int4 | int8 | 16 | int4 | int4 | int4 | 5.250 | 50.0 | 25.0% | 90.0% | 9 / 10 | 1 / 0 | -10.0 [-29.6, +9.6] | 1.0 | 1.5 |",
    ),
    text,
  );
  assert(
    text.includes("| calibrated | f16 | — | — | — | — | — | — | — | — | 0 / 0 | — | — | — | — |"),
  );
  assert(text.includes("calibrated: skipped: no profile"));
  const json = jsonRows(rows);
  assertEquals(json[1].think, "int4");
  assertEquals(json[1].accuracy, 0.9);
  assertEquals(json[1].paired?.lost, 1);
  assertEquals(json[1].weights, "int8");
  assertEquals(json[2].note, "skipped: no profile");
  assert(!("dtypes" in json[1]));
});

Deno.test("pairedDifference counts lost and gained problems and brackets the difference", () => {
  const base = [true, true, true, true, false, false, true, true];
  const cand = [true, false, true, false, true, false, true, true];
  const d = pairedDifference(cand, base);
  assertEquals([d.n, d.lost, d.gained], [8, 2, 1]);
  assertEquals(d.diff, -1 / 8);
  assert(d.ci95[0] < d.diff && d.diff < d.ci95[1]);
  // identical results: no difference and no spread
  assertEquals(pairedDifference(base, base).ci95, [0, 0]);
  assertThrows(() => pairedDifference([true], base), RangeError, "length");
  // McNemar: 0 vs 10 discordant pairs is significant, 5 vs 5 is not
  assert(mcnemar(0, 10) < 0.01);
  assertEquals(mcnemar(5, 5), 1);
  assertEquals(mcnemar(0, 0), 1);
});
