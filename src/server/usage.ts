/**
 * The `usage` object of a response: OpenAI's token counts, reasoning tokens, and phasekv's KV
 * memory per phase. Counts come from the engine's final usage; the server's own tally stands in
 * for what a request that ended early never received.
 * @module
 */
import type { GenerateOutput, GenerateUsage, PhaseKvUsage } from "../engine/types.ts";

/** KV memory of one phase, as the API reports it. */
export interface PhaseKvJson {
  tokens: number;
  blocks: number;
  bytes: number;
  dtypes: Record<string, number>;
}

/** The `usage` object of chat and text completions. */
export interface UsageJson {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  completion_tokens_details: { reasoning_tokens: number };
  kv?: {
    bytes_per_token: number;
    bits_per_element: number;
    phases: Record<string, PhaseKvJson>;
  };
}

/** Counts a request's outputs and renders its usage. */
export class UsageTally {
  readonly #promptTokens: number;
  #completionTokens = 0;
  #reasoningTokens = 0;
  #final: GenerateUsage | null = null;

  /** Starts a tally for a prompt of `promptTokens` tokens. */
  constructor(promptTokens: number) {
    this.#promptTokens = promptTokens;
  }

  /** Adds one output's tokens (and keeps the engine's final usage when it carries one). */
  add(output: GenerateOutput): void {
    this.#completionTokens += output.tokenIds.length;
    if (output.phase === "think") this.#reasoningTokens += output.tokenIds.length;
    if (output.usage) this.#final = output.usage;
  }

  /** The usage object. */
  toJson(): UsageJson {
    const u = this.#final;
    const prompt = u?.promptTokens ?? this.#promptTokens;
    const completion = u?.completionTokens ?? this.#completionTokens;
    const usage: UsageJson = {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      completion_tokens_details: { reasoning_tokens: u?.reasoningTokens ?? this.#reasoningTokens },
    };
    if (u) {
      usage.kv = {
        bytes_per_token: u.kv.bytesPerToken,
        bits_per_element: u.kv.bitsPerElement,
        phases: Object.fromEntries(
          Object.entries(u.kv.phases).map(([phase, p]) => [phase, phaseJson(p)]),
        ),
      };
    }
    return usage;
  }
}

function phaseJson(p: PhaseKvUsage): PhaseKvJson {
  return { tokens: p.tokens, blocks: p.blocks, bytes: p.bytes, dtypes: { ...p.dtypes } };
}
