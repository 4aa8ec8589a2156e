/**
 * The half of an EngineApi that never touches the GPU: token ids, the chat template and dtype
 * names, answered on the calling thread whether the step loop runs here or in a Worker.
 * @module
 */
import { canonical } from "../kv/policy.ts";
import type { TextSide } from "./backend.ts";
import type { ChatMessage, EncodeTextOptions, ThinkMarkerText } from "./types.ts";

/** Tokenizer, chat template and dtype names of a served model. */
export abstract class TextEngine {
  /** The served model's id. */
  abstract readonly modelId: string;
  readonly #text: TextSide;
  readonly #baseDtype: string;

  /** Wraps a model's text side; `baseDtype` is what `auto` resolves to. */
  protected constructor(text: TextSide, baseDtype: string) {
    this.#text = text;
    this.#baseDtype = canonical(baseDtype, "f16");
  }

  /** Token ids of a text; `parseSpecial: false` spells control tokens as plain text. */
  encode(text: string, options?: EncodeTextOptions): number[] {
    return this.#text.tokenizer.encode(text, options);
  }

  /** The think markers as text, or null when the model has none. */
  get thinkMarkers(): ThinkMarkerText | null {
    const markers = this.#text.markers;
    if (!markers || markers.openId === null || markers.closeId === null) return null;
    const { tokenizer } = this.#text;
    return { open: tokenizer.decode([markers.openId]), close: tokenizer.decode([markers.closeId]) };
  }

  /** Text of token ids. */
  decode(ids: readonly number[]): string {
    return this.#text.tokenizer.decode(ids);
  }

  /** Renders the model's chat template. */
  applyChatTemplate(messages: readonly ChatMessage[], kwargs?: Record<string, unknown>): string {
    if (!this.#text.renderChat) throw new TypeError(`Model ${this.modelId} has no chat template`);
    return this.#text.renderChat(messages, kwargs);
  }

  /** Canonical dtype name (`auto` is the engine's base dtype). */
  resolveKvDtype(name: string): string {
    return canonical(name, this.#baseDtype);
  }
}
