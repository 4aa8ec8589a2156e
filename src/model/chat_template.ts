/**
 * The model's chat template (Jinja, rendered with @huggingface/jinja as transformers'
 * apply_chat_template renders it) and the think markers that split a reasoning model's output
 * into phases. Markers are looked up by content among the tokenizer's added tokens, never by id.
 * @module
 */
import { Template } from "@huggingface/jinja";
import { ChatTemplateError } from "./errors.ts";
import type { AddedTokenInfo, Tokenizer } from "./tokenizer.ts";

/** One chat message; templates may read more fields (tool_calls, reasoning_content). */
export interface ChatMessage {
  role: string;
  content: string;
  [field: string]: unknown;
}

/** Options of ChatTemplate.render. */
export interface RenderOptions {
  /** Append the assistant turn opener (default true: the prompt is for generation). */
  addGenerationPrompt?: boolean;
  /** Extra template variables, e.g. `{ enable_thinking: false }` for Qwen3, or `tools`. */
  kwargs?: Record<string, unknown>;
}

/** Text of the special tokens a template may print. */
export interface TemplateTokens {
  bosToken: string | null;
  eosToken: string | null;
}

/** Ids of the think block's open and close markers. */
export interface ThinkMarkers {
  open: number;
  close: number;
}

/** Text of the think markers, as Hub tokenizers spell them. */
export const DEFAULT_THINK_TEXT: { readonly open: string; readonly close: string } = {
  open: "<think>",
  close: "</think>",
};

/** A parsed chat template, ready to render conversations. */
export class ChatTemplate {
  /** The Jinja source. */
  readonly source: string;
  readonly #template: Template;
  readonly #tokens: TemplateTokens;
  readonly #path: string;

  /** Parses `source`; `path` names where it came from in error messages. */
  constructor(source: string, tokens: TemplateTokens, path = "chat_template") {
    this.source = source;
    this.#tokens = tokens;
    this.#path = path;
    try {
      this.#template = new Template(source);
    } catch (cause) {
      throw new ChatTemplateError(path, `does not parse: ${(cause as Error).message}`, { cause });
    }
  }

  /** The template tokenizer_config.json carries, with its bos/eos text. */
  static fromTokenizer(tokenizer: Tokenizer, path = "tokenizer_config.json"): ChatTemplate {
    if (tokenizer.chatTemplate === null) {
      throw new ChatTemplateError(
        path,
        "has no chat_template; use a chat-tuned model or pass the prompt as plain text",
      );
    }
    return new ChatTemplate(tokenizer.chatTemplate, tokenizer, path);
  }

  /** Renders `messages` to prompt text (to be encoded without adding special tokens). */
  render(messages: readonly ChatMessage[], opts: RenderOptions = {}): string {
    const vars: Record<string, unknown> = {
      ...opts.kwargs,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
    };
    if (this.#tokens.bosToken !== null) vars.bos_token = this.#tokens.bosToken;
    if (this.#tokens.eosToken !== null) vars.eos_token = this.#tokens.eosToken;
    try {
      return this.#template.render(vars);
    } catch (cause) {
      throw new ChatTemplateError(
        this.#path,
        `fails to render these messages: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** What add_generation_prompt appends after the conversation (e.g. `<|im_start|>assistant\n`). */
  generationPrompt(messages: readonly ChatMessage[], opts: RenderOptions = {}): string {
    const withPrompt = this.render(messages, { ...opts, addGenerationPrompt: true });
    const without = this.render(messages, { ...opts, addGenerationPrompt: false });
    // Templates that rewrite history under the flag do not extend the plain render; use it all.
    return withPrompt.startsWith(without) ? withPrompt.slice(without.length) : withPrompt;
  }
}

/** Reads chat_template.jinja from `dir` when present, else the tokenizer's chat_template. */
export async function loadChatTemplate(dir: string, tokenizer: Tokenizer): Promise<ChatTemplate> {
  const jinjaPath = `${dir}/chat_template.jinja`;
  try {
    return new ChatTemplate(await Deno.readTextFile(jinjaPath), tokenizer, jinjaPath);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return ChatTemplate.fromTokenizer(tokenizer, `${dir}/tokenizer_config.json`);
}

/** Ids of the added tokens whose content is `<think>` and `</think>`, or null if either is absent. */
export function findThinkMarkers(
  source: { readonly addedTokens: readonly Pick<AddedTokenInfo, "id" | "content">[] },
  text: { readonly open: string; readonly close: string } = DEFAULT_THINK_TEXT,
): ThinkMarkers | null {
  const open = source.addedTokens.find((t) => t.content === text.open);
  const close = source.addedTokens.find((t) => t.content === text.close);
  return open && close ? { open: open.id, close: close.id } : null;
}

/**
 * Whether `prompt` leaves a think block open, so generation starts inside it. Pass the
 * generation prompt (ChatTemplate.generationPrompt) so that markers quoted in earlier messages
 * cannot mislead; a whole rendered prompt works when the history holds no open marker.
 */
export function generationOpensThink(
  prompt: string,
  text: { readonly open: string; readonly close: string } = DEFAULT_THINK_TEXT,
): boolean {
  const open = prompt.lastIndexOf(text.open);
  return open >= 0 && prompt.indexOf(text.close, open) < 0;
}
