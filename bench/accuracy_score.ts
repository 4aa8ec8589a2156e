/**
 * Scoring of the accuracy bench: held-out problems from a model's heldout.jsonl, the answer a
 * request produced (its answer-phase text, i.e. what follows the think close marker), exact
 * match, and per-configuration totals with the KV bits per element weighted by cached tokens.
 * @module
 */
import type { ChatMessage, GenerateOutput, GenerateUsage } from "../src/engine/types.ts";

/** One held-out problem (the fields of heldout.jsonl the bench reads). */
export interface HeldoutProblem {
  messages: ChatMessage[];
  /** The expected answer text. */
  answer: string;
  /** The reference completion (think trace, close marker, answer); sizes max_tokens. */
  completion: string;
}

/** What one request contributes to its configuration's totals. */
export interface RequestResult {
  correct: boolean;
  /** Tokens whose KV the request held (prompt and generated). */
  kvTokens: number;
  /** Bytes the request's KV held when it finished, all layers: window, open, partial blocks. */
  kvBytes: number;
  /** The engine's usage.kv.bitsPerElement for the request. */
  bitsPerElement: number;
  completionTokens: number;
  reasoningTokens: number;
}

/** A configuration's totals. */
export interface ConfigSummary {
  n: number;
  correct: number;
  accuracy: number;
  /** Mean of the requests' bits per element, weighted by their KV tokens. */
  bitsPerElement: number;
  /** KV bytes held over KV tokens held, summed over requests (all layers, every byte). */
  bytesPerToken: number;
  /** Whether each problem was solved, in problem order (for pairing). */
  outcomes: boolean[];
  /** Think tokens over all generated tokens. */
  thinkFraction: number;
}

/** Parses heldout.jsonl text; throws RangeError naming the first bad line. */
export function parseHeldout(text: string): HeldoutProblem[] {
  const problems: HeldoutProblem[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const row = JSON.parse(line) as Partial<HeldoutProblem>;
    if (
      !Array.isArray(row.messages) || typeof row.answer !== "string" ||
      typeof row.completion !== "string"
    ) {
      throw new RangeError(`heldout line ${i + 1}: needs messages, answer and completion`);
    }
    problems.push({ messages: row.messages, answer: row.answer, completion: row.completion });
  });
  return problems;
}

/** The text a request produced after the think block: its answer-phase outputs, joined. */
export function answerText(outputs: readonly Pick<GenerateOutput, "text" | "phase">[]): string {
  return outputs.filter((o) => o.phase === "answer").map((o) => o.text).join("");
}

/** Exact match after trimming both sides. */
export function isCorrect(got: string, expected: string): boolean {
  return got.trim() === expected.trim();
}

/** A request's result from its outputs (the last carries the usage) and the expected answer. */
export function scoreRequest(
  outputs: readonly Pick<GenerateOutput, "text" | "phase" | "usage">[],
  expected: string,
): RequestResult {
  const usage: GenerateUsage | undefined = outputs.at(-1)?.usage;
  if (!usage) throw new Error("The request's last output carries no usage");
  const phases = Object.values(usage.kv.phases);
  const kvTokens = phases.reduce((n, p) => n + p.tokens, 0);
  return {
    correct: isCorrect(answerText(outputs), expected),
    kvTokens,
    kvBytes: phases.reduce((n, p) => n + p.bytes, 0),
    bitsPerElement: usage.kv.bitsPerElement,
    completionTokens: usage.completionTokens,
    reasoningTokens: usage.reasoningTokens,
  };
}

/** Totals over a configuration's requests. */
export function summarize(results: readonly RequestResult[]): ConfigSummary {
  let correct = 0, tokens = 0, bits = 0, bytes = 0, generated = 0, think = 0;
  for (const r of results) {
    correct += r.correct ? 1 : 0;
    tokens += r.kvTokens;
    bytes += r.kvBytes;
    bits += r.bitsPerElement * r.kvTokens;
    generated += r.completionTokens;
    think += r.reasoningTokens;
  }
  const n = results.length;
  return {
    n,
    correct,
    accuracy: n > 0 ? correct / n : 0,
    bitsPerElement: tokens > 0 ? bits / tokens : 0,
    bytesPerToken: tokens > 0 ? bytes / tokens : 0,
    outcomes: results.map((r) => r.correct),
    thinkFraction: generated > 0 ? think / generated : 0,
  };
}
