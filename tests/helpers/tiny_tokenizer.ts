/**
 * A tiny byte-level BPE tokenizer in Hugging Face's `tokenizer.json` layout (the GPT-2 / Qwen
 * scheme: every byte is a token, a few merges on top), with the chat special tokens of an
 * R1-style reasoning model as added tokens, and its `tokenizer_config.json`.
 * @module
 */

/** Added tokens of the tiny tokenizer, in id order after the byte and merge tokens. */
export const TINY_ADDED_TOKENS: readonly string[] = [
  "<|begin|>",
  "<|end|>",
  "<|User|>",
  "<|Assistant|>",
  "<think>",
  "</think>",
];

/** Merges applied on top of the 256 byte tokens (GPT-2 spelling: Ġ is a space). */
export const TINY_MERGES: readonly string[] = [
  "Ġ t",
  "h e",
  "Ġt he",
  "i n",
  "o n",
  "e r",
  "a n",
  "Ġ a",
];

/** R1-style chat template: the generation prompt opens the think block. */
export const TINY_CHAT_TEMPLATE: string = "{{ bos_token }}" +
  "{% for message in messages %}" +
  "{% if message['role'] == 'system' %}{{ message['content'] }}" +
  "{% elif message['role'] == 'user' %}<|User|>{{ message['content'] }}" +
  "{% elif message['role'] == 'assistant' %}<|Assistant|>{{ message['content'] }}<|end|>" +
  "{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}<|Assistant|><think>\n{% endif %}";

/** Number of ids the tiny tokenizer uses (bytes, merges, added tokens). */
export const TINY_VOCAB_SIZE: number = 256 + TINY_MERGES.length + TINY_ADDED_TOKENS.length;

/** Id of one of TINY_ADDED_TOKENS in the tiny tokenizer. */
export function tinyTokenId(content: string): number {
  const index = TINY_ADDED_TOKENS.indexOf(content);
  if (index < 0) throw new RangeError(`${content} is not an added token of the tiny tokenizer`);
  return 256 + TINY_MERGES.length + index;
}

/** GPT-2's reversible byte → printable character map used by byte-level BPE. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  const ranges: [number, number][] = [[0x21, 0x7e], [0xa1, 0xac], [0xae, 0xff]];
  for (const [lo, hi] of ranges) for (let b = lo; b <= hi; b++) printable.push(b);
  const table: string[] = new Array(256);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = printable.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + next++);
  }
  return table;
}

/** The `tokenizer.json` object: ids 0-255 are bytes, then merges, then added tokens. */
export function tinyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, b) => vocab[ch] = b);
  TINY_MERGES.forEach((m, i) => vocab[m.replace(" ", "")] = 256 + i);
  const firstAdded = 256 + TINY_MERGES.length;
  const addedTokens = TINY_ADDED_TOKENS.map((content, i) => ({
    id: firstAdded + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    // <think> and </think> are not special in R1/Qwen tokenizers: they survive skip_special_tokens.
    special: !content.includes("think"),
  }));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: "ByteLevel",
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|begin|>", type_id: 0 } }, {
        Sequence: { id: "A", type_id: 0 },
      }],
      pair: [
        { SpecialToken: { id: "<|begin|>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: {
        "<|begin|>": { id: "<|begin|>", ids: [firstAdded], tokens: ["<|begin|>"] },
      },
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [...TINY_MERGES],
    },
  };
}

/** The `tokenizer_config.json` object: bos/eos by content and the chat template. */
export function tinyTokenizerConfigJson(): Record<string, unknown> {
  return {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: "<|begin|>",
    eos_token: "<|end|>",
    pad_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: 4096,
    tokenizer_class: "PreTrainedTokenizerFast",
    chat_template: TINY_CHAT_TEMPLATE,
  };
}

/** Writes `tokenizer.json` and `tokenizer_config.json` into `dir`. */
export async function writeTinyTokenizer(dir: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(tinyTokenizerJson()));
  await Deno.writeTextFile(
    `${dir}/tokenizer_config.json`,
    JSON.stringify(tinyTokenizerConfigJson(), null, 2),
  );
}
