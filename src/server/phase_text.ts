/**
 * Splits an engine output's text into reasoning and answer by its phase. The engine leaves
 * think markers out of `text`; this guards the contract at the API edge, so a marker that slips
 * through as a token of its own never reaches a client.
 * @module
 */
import type { GenerateOutput } from "../engine/types.ts";

/** The text of one output, by where it goes in the response. */
export interface PhaseText {
  reasoning: string;
  content: string;
}

// Only an output that is nothing but a marker is dropped: the same words inside prose are kept.
// These are the markers of every family phasekv targets (R1 distills, QwQ, Qwen3).
const LONE_MARKER = /^\s*<\/?think>\s*$/;

/** Reasoning text for think outputs, answer text for answer outputs; prompt outputs carry none. */
export function splitPhaseText(output: GenerateOutput): PhaseText {
  const text = LONE_MARKER.test(output.text) ? "" : output.text;
  if (output.phase === "think") return { reasoning: text, content: "" };
  if (output.phase === "answer") return { reasoning: "", content: text };
  return { reasoning: "", content: "" };
}
