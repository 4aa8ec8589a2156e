/**
 * The model's tokenizer: `tokenizer.json` run by @huggingface/tokenizers, plus what
 * `tokenizer_config.json` says about special tokens and the chat template.
 * @module
 */
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { TokenizerError } from "./errors.ts";

/** An added token (special or not) as tokenizer.json lists it. */
export interface AddedTokenInfo {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
}

/** Options of Tokenizer.encode. */
export interface EncodeOptions {
  /** Let the post-processor add the model's special tokens, e.g. BOS (default true). */
  addSpecialTokens?: boolean;
  /**
   * Read added tokens (`<|User|>`, `</think>`) in the text as those tokens (default true).
   * False spells them with ordinary tokens: user text must never forge a turn or a phase.
   */
  parseSpecial?: boolean;
}

/** Options of Tokenizer.decode. */
export interface DecodeOptions {
  /** Drop special tokens from the text (default false). */
  skipSpecialTokens?: boolean;
}

/** Text ↔ token ids for one model. */
export class Tokenizer {
  /** One more than the largest id the tokenizer can produce. */
  readonly vocabSize: number;
  /** Tokens added on top of the model vocabulary (chat markers, think markers). */
  readonly addedTokens: readonly AddedTokenInfo[];
  /** tokenizer_config.json's bos_token, as text (the chat template's `bos_token`). */
  readonly bosToken: string | null;
  /** tokenizer_config.json's eos_token, as text (the chat template's `eos_token`). */
  readonly eosToken: string | null;
  /** Id of bosToken, when it is in the vocabulary. */
  readonly bosTokenId: number | null;
  /** Id of eosToken, when it is in the vocabulary. */
  readonly eosTokenId: number | null;
  /** tokenizer_config.json's chat_template (the default one when it lists several). */
  readonly chatTemplate: string | null;
  readonly #hf: HfTokenizer;

  /** Builds a tokenizer from parsed tokenizer.json and tokenizer_config.json objects. */
  constructor(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown>, path = "") {
    try {
      this.#hf = new HfTokenizer(tokenizerJson as object, tokenizerConfig);
    } catch (cause) {
      throw new TokenizerError(
        path,
        `tokenizer.json is not a tokenizer @huggingface/tokenizers can build: ${
          (cause as Error).message
        }`,
        { cause },
      );
    }
    this.addedTokens = [...this.#hf.get_added_tokens_decoder().values()]
      .map((t) => ({ id: t.id, content: t.content, special: t.special }))
      .sort((a, b) => a.id - b.id);
    const ids = [...this.#hf.get_vocab(true).values()];
    this.vocabSize = ids.reduce((max, id) => Math.max(max, id + 1), 0);
    this.bosToken = tokenText(tokenizerConfig.bos_token);
    this.eosToken = tokenText(tokenizerConfig.eos_token);
    this.bosTokenId = this.bosToken === null ? null : this.tokenId(this.bosToken);
    this.eosTokenId = this.eosToken === null ? null : this.tokenId(this.eosToken);
    this.chatTemplate = defaultTemplate(tokenizerConfig.chat_template);
  }

  /** Token ids of `text`. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (opts.parseSpecial === false) return this.#encodePlain(text);
    return this.#hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  // The library has no split_special_tokens: run its normalizer, pre-tokenizer and model
  // directly, skipping the added-token splitter; a piece that still maps onto an added token is
  // spelled one character at a time.
  #encodePlain(text: string): number[] {
    const { normalizer, pre_tokenizer: preTokenizer, model } = this.#hf;
    if (model === null) throw new TokenizerError("", "the tokenizer has no model");
    const added = new Set(this.addedTokens.map((t) => t.id));
    const idsOf = (piece: string): number[] => {
      const words = preTokenizer ? preTokenizer.pre_tokenize(piece) : [piece];
      return model.encode(words).map((token) =>
        this.#hf.token_to_id(token) ?? model.unk_token_id ?? 0
      );
    };
    const normalized = normalizer ? normalizer.normalize(text) : text;
    if (normalized.length === 0) return [];
    const ids = idsOf(normalized);
    if (!ids.some((id) => added.has(id))) return ids;
    return [...normalized].flatMap((char) => idsOf(char).filter((id) => !added.has(id)));
  }

  /** Text of `ids`. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    return this.#hf.decode([...ids], {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  /** Id of the token whose content is exactly `content`, or null when there is none. */
  tokenId(content: string): number | null {
    return this.#hf.token_to_id(content) ?? null;
  }

  /** Content of token `id`, or null when the id is not in the vocabulary. */
  tokenContent(id: number): string | null {
    return this.#hf.id_to_token(id) ?? null;
  }
}

/** Loads tokenizer.json and tokenizer_config.json from a checkpoint folder. */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const tokenizerJson = await readJson(`${dir}/tokenizer.json`, true);
  const config = await readJson(`${dir}/tokenizer_config.json`, false) ?? {};
  if (typeof config !== "object" || Array.isArray(config)) {
    throw new TokenizerError(`${dir}/tokenizer_config.json`, "must hold a JSON object");
  }
  return new Tokenizer(tokenizerJson, config as Record<string, unknown>, `${dir}/tokenizer.json`);
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    if (!required && cause instanceof Deno.errors.NotFound) return null;
    throw new TokenizerError(
      path,
      "cannot be read; a checkpoint folder needs the Hub's tokenizer.json (not only tokenizer.model)",
      { cause },
    );
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new TokenizerError(path, `is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

// Special tokens are saved as text or, by older transformers, as {"content": ...} objects.
function tokenText(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && "content" in value) {
    const content = (value as { content: unknown }).content;
    return typeof content === "string" ? content : null;
  }
  return null;
}

// chat_template is a string, or a list of {name, template} where "default" is the chat one.
function defaultTemplate(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const entry = value.find((t) => t?.name === "default") ?? value[0];
    return typeof entry?.template === "string" ? entry.template : null;
  }
  return null;
}
