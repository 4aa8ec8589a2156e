/**
 * The shapes of chat completions: `chat.completion.chunk` events and the `chat.completion`
 * object. Reasoning goes to `reasoning_content` (as vLLM, SGLang and llama.cpp name it), the
 * answer to `content`.
 * @module
 */
import type { FinishReason } from "../engine/types.ts";
import type { PhaseText } from "./phase_text.ts";
import type { JsonObject, ResponseFormat } from "./respond.ts";
import type { ResponseIdentity } from "./response_identity.ts";
import type { UsageJson } from "./usage.ts";

/** A delta of a chat chunk. */
export interface ChatDelta {
  role?: "assistant";
  content?: string;
  reasoning_content?: string;
}

/** Renders chat completion chunks and responses. */
export class ChatFormat implements ResponseFormat {
  readonly #identity: ResponseIdentity;
  readonly #includeReasoning: boolean;

  /** A format for one response; reasoning is dropped when `includeReasoning` is false. */
  constructor(identity: ResponseIdentity, includeReasoning: boolean) {
    this.#identity = identity;
    this.#includeReasoning = includeReasoning;
  }

  /** The role chunk. */
  opening(): JsonObject[] {
    return [this.#chunk({ role: "assistant" }, null)];
  }

  /** A reasoning and/or content delta, or null when both are empty. */
  delta(text: PhaseText): JsonObject | null {
    const delta: ChatDelta = {};
    if (this.#includeReasoning && text.reasoning) delta.reasoning_content = text.reasoning;
    if (text.content) delta.content = text.content;
    return Object.keys(delta).length ? this.#chunk(delta, null) : null;
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
    if (this.#includeReasoning) message.reasoning_content = text.reasoning;
    return {
      ...this.#head("chat.completion"),
      choices: [{ index: 0, message, logprobs: null, finish_reason: reason }],
      usage,
    };
  }

  #chunk(delta: ChatDelta, reason: FinishReason | null): JsonObject {
    return {
      ...this.#head("chat.completion.chunk"),
      choices: [{ index: 0, delta, logprobs: null, finish_reason: reason }],
    };
  }

  #head(object: string): JsonObject {
    const { id, created, model } = this.#identity;
    return { id, object, created, model };
  }
}
