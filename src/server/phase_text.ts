/**
 * Splits an engine output's text into reasoning and answer by its phase. The engine leaves
 * think markers out of `text`; this guards the contract at the API edge, so a marker that slips
 * through as a token of its own never reaches a client. The markers are the served model's.
 * @module
 */
import type { GenerateOutput, ThinkMarkerText } from "../engine/types.ts";
import type { TokenEntry } from "./logprobs_format.ts";

/** The text of one output, by where it goes in the response. */
export interface PhaseText {
  reasoning: string;
  content: string;
  /** The tokens' logprobs, when the request asked for them. */
  logprobs?: TokenEntry[];
}

/**
 * Reasoning text for think outputs, answer text for answer outputs; prompt outputs carry none.
 * An output that is nothing but one of `markers` is dropped; the same words inside prose are kept.
 */
export function splitPhaseText(
  output: GenerateOutput,
  markers: ThinkMarkerText | null = null,
): PhaseText {
  const trimmed = output.text.trim();
  const lone = markers !== null && (trimmed === markers.open || trimmed === markers.close);
  const text = lone ? "" : output.text;
  if (output.phase === "think") return { reasoning: text, content: "" };
  if (output.phase === "answer") return { reasoning: "", content: text };
  return { reasoning: "", content: "" };
}
