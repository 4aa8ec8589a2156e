/**
 * The shapes of text completions (`text_completion`). As in vLLM's /v1/completions, the text is
 * the raw output: reasoning and answer run together (the engine leaves the markers out), unless
 * `include_reasoning: false` drops the reasoning; chat completions keep them apart.
 * @module
 */
import type { FinishReason } from "../engine/types.ts";
import { completionLogprobs } from "./logprobs_format.ts";
import type { PhaseText } from "./phase_text.ts";
import type { JsonObject, ResponseFormat } from "./respond.ts";
import type { ResponseIdentity } from "./response_identity.ts";
import type { UsageJson } from "./usage.ts";

/** Renders text completion chunks and responses. */
export class CompletionFormat implements ResponseFormat {
  readonly #identity: ResponseIdentity;
  readonly #includeReasoning: boolean;
  /** Characters of text sent so far (text_offset counts from the completion's start). */
  #offset = 0;

  /** A format for one response; reasoning is dropped when `includeReasoning` is false. */
  constructor(identity: ResponseIdentity, includeReasoning: boolean) {
    this.#identity = identity;
    this.#includeReasoning = includeReasoning;
  }

  /** Text completions open with no special chunk. */
  opening(): JsonObject[] {
    return [];
  }

  /** A text chunk, or null when there is no text. */
  delta(text: PhaseText): JsonObject | null {
    const joined = this.#text(text);
    const logprobs = this.#logprobs(text);
    this.#offset += joined.length;
    return joined || logprobs ? this.#chunk(joined, null, logprobs) : null;
  }

  /** The chunk with empty text and the finish reason. */
  closing(reason: FinishReason): JsonObject {
    return this.#chunk("", reason);
  }

  /** The usage chunk. */
  usage(usage: UsageJson): JsonObject {
    return { ...this.#head(), choices: [], usage };
  }

  /** The `text_completion` object. */
  whole(text: PhaseText, reason: FinishReason, usage: UsageJson): JsonObject {
    return { ...this.#chunk(this.#text(text), reason, this.#logprobs(text)), usage };
  }

  #text(text: PhaseText): string {
    return (this.#includeReasoning ? text.reasoning : "") + text.content;
  }

  #chunk(text: string, reason: FinishReason | null, logprobs: JsonObject | null = null) {
    return {
      ...this.#head(),
      choices: [{ index: 0, text, logprobs, finish_reason: reason }],
    };
  }

  // the tokens whose text this response shows: reasoning ones only when it shows reasoning
  #logprobs(text: PhaseText): JsonObject | null {
    if (!text.logprobs) return null;
    const shown = text.logprobs.filter((e) => this.#includeReasoning || e.phase === "answer");
    return shown.length ? completionLogprobs(shown, this.#offset) : null;
  }

  #head(): JsonObject {
    const { id, created, model } = this.#identity;
    return { id, object: "text_completion", created, model };
  }
}
