/**
 * Held-out problems in `heldout.jsonl` format (one JSON object a line: `messages`, the chat to
 * send; `answer`, the exact text expected after the think block; `completion`, a reference
 * completion that sizes max_tokens) and their exact-match scoring, shared by calibrate's
 * validation and the accuracy bench.
 * @module
 */
import type { ChatMessage, GenerateOutput } from "../engine/types.ts";

/** One held-out problem (the fields of heldout.jsonl that are read). */
export interface HeldoutProblem {
  messages: ChatMessage[];
  /** The expected answer text. */
  answer: string;
  /** The reference completion (think trace, close marker, answer); sizes max_tokens. */
  completion: string;
}

/** Parses heldout.jsonl text; throws RangeError naming the first bad line. */
export function parseHeldout(text: string): HeldoutProblem[] {
  const problems: HeldoutProblem[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let row: Partial<HeldoutProblem>;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new RangeError(`heldout line ${i + 1}: ${(e as Error).message}`);
    }
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
