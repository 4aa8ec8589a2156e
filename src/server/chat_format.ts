/**
 * The shapes of chat completions: `chat.completion.chunk` events and the `chat.completion`
 * object. Reasoning goes to `reasoning` (today's vLLM) and `reasoning_content` (llama.cpp, SGLang,
 * DeepSeek's API, older vLLM) unless the operator picks one; the answer goes to `content`.
 * @module
 */
import type { FinishReason } from "../engine/types.ts";
import { chatLogprobs } from "./logprobs_format.ts";
import type { PhaseText } from "./phase_text.ts";
import type { JsonObject, ResponseFormat } from "./respond.ts";
import type { ResponseIdentity } from "./response_identity.ts";
import type { UsageJson } from "./usage.ts";

/** Which field(s) carry the reasoning. */
export type ReasoningField = "both" | "reasoning" | "reasoning_content";

/** Every value of ReasoningField (the flag's choices). */
export const REASONING_FIELDS: readonly ReasoningField[] = [
  "both",
  "reasoning",
  "reasoning_content",
];

/** A delta of a chat chunk. */
export interface ChatDelta {
  role?: "assistant";
  content?: string;
  reasoning?: string;
  reasoning_content?: string;
}

/** How a chat response shows the reasoning. */
export interface ChatFormatOptions {
  /** False drops the reasoning (the request's `include_reasoning: false`). */
  includeReasoning: boolean;
  /** The field(s) it goes to (default both). */
  reasoningField?: ReasoningField;
}

/** Renders chat completion chunks and responses. */
export class ChatFormat implements ResponseFormat {
  readonly #identity: ResponseIdentity;
  readonly #includeReasoning: boolean;
  readonly #field: ReasoningField;

  /** A format for one response. */
  constructor(identity: ResponseIdentity, options: ChatFormatOptions) {
    this.#identity = identity;
    this.#includeReasoning = options.includeReasoning;
    this.#field = options.reasoningField ?? "both";
  }

  /** The role chunk. */
  opening(): JsonObject[] {
    return [this.#chunk({ role: "assistant" }, null)];
  }

  /** A reasoning and/or content delta, or null when both are empty. */
  delta(text: PhaseText): JsonObject | null {
    const delta: ChatDelta = {};
    if (this.#includeReasoning && text.reasoning) this.#setReasoning(delta, text.reasoning);
    if (text.content) delta.content = text.content;
    const logprobs = this.#logprobs(text);
    if (!Object.keys(delta).length && !logprobs) return null;
    return this.#chunk(delta, null, logprobs);
  }

  /** The chunk with an empty delta and the finish reason. */
  closing(reason: FinishReason): JsonObject {
    return this.#chunk({}, reason);
  }

  /** The usage chunk. */
  usage(usage: UsageJson): JsonObject {
    return { ...this.#head("chat.completion.chunk"), choices: [], usage };
  }

  /** The `chat.completion` object. */
  whole(text: PhaseText, reason: FinishReason, usage: UsageJson): JsonObject {
    const message: ChatDelta = { role: "assistant", content: text.content };
    if (this.#includeReasoning) this.#setReasoning(message, text.reasoning);
    return {
      ...this.#head("chat.completion"),
      choices: [{ index: 0, message, logprobs: this.#logprobs(text), finish_reason: reason }],
      usage,
    };
  }

  #setReasoning(delta: ChatDelta, text: string): void {
    if (this.#field !== "reasoning_content") delta.reasoning = text;
    if (this.#field !== "reasoning") delta.reasoning_content = text;
  }

  #chunk(delta: ChatDelta, reason: FinishReason | null, logprobs: JsonObject | null = null) {
    return {
      ...this.#head("chat.completion.chunk"),
      choices: [{ index: 0, delta, logprobs, finish_reason: reason }],
    };
  }

  #logprobs(text: PhaseText): JsonObject | null {
    if (!text.logprobs) return null;
    const json = chatLogprobs(text.logprobs, this.#includeReasoning);
    const empty = Object.values(json).every((list) => (list as unknown[]).length === 0);
    return empty ? null : json;
  }

  #head(object: string): JsonObject {
    const { id, created, model } = this.#identity;
    return { id, object, created, model };
  }
}
