/**
 * Where calibration prompts come from: a file the user names, fresh problems in the format of
 * a model's held-out set (its numbers redrawn, so the accuracy set is not calibrated on), or
 * built-in story openings for base models; and each prompt encoded as the server encodes it.
 * @module
 */
import {
  type ChatMessage,
  type ChatTemplate,
  generationOpensThink,
} from "../model/chat_template.ts";
import { createRng } from "./rng.ts";
import type { Tokenizer } from "../model/tokenizer.ts";

/** One calibration prompt: chat messages (rendered with the model's template) or plain text. */
export type CalibrationPrompt =
  | { kind: "chat"; messages: ChatMessage[] }
  | { kind: "text"; text: string };

/** Raised for a prompt file that holds no usable prompt or a malformed line. */
export class PromptFileError extends Error {
  /** Names the file and what is wrong with it. */
  constructor(readonly path: string, detail: string) {
    super(`Prompt file ${path}: ${detail}`);
    this.name = "PromptFileError";
  }
}

/** Story openings for base models without a chat template (stories260k speaks TinyStories). */
export const STORY_PROMPTS: readonly string[] = [
  "Once upon a time, there was a little girl named Lily.",
  "One day, a small dog found a big red ball in the park.",
  "Tom and his mom went to the store to buy some apples.",
  "There was a happy bird who liked to sing in the tree.",
  "Sara had a new toy car. She wanted to show it to her friend Ben.",
  "Once upon a time, in a small house, there lived an old cat.",
  "The sun was shining and the children played outside.",
  "A little boy named Tim wanted to fly like a bird.",
  "Anna saw a big box under her bed.",
  "One morning, the farmer went to see his cows.",
  "Max the bunny was hungry. He looked for a carrot.",
  "It was a rainy day and Mia could not go outside.",
];

/**
 * Parses a prompt file: JSON lines with `messages` (a chat) or `prompt` (a user turn), as the
 * held-out sets are written, or else one plain-text prompt per non-empty line.
 */
export function parsePromptFile(text: string, path: string): CalibrationPrompt[] {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  if (lines.length === 0) throw new PromptFileError(path, "holds no prompt");
  if (!lines[0].startsWith("{")) return lines.map((text) => ({ kind: "text", text }));
  return lines.map((line, i) => {
    let row: { messages?: unknown; prompt?: unknown };
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new PromptFileError(path, `line ${i + 1} is not JSON: ${(e as Error).message}`);
    }
    if (Array.isArray(row.messages)) {
      return { kind: "chat", messages: row.messages as ChatMessage[] };
    }
    if (typeof row.prompt === "string") {
      return { kind: "chat", messages: [{ role: "user", content: row.prompt }] };
    }
    throw new PromptFileError(path, `line ${i + 1} has neither "messages" nor "prompt"`);
  });
}

/**
 * `count` prompts like `templates`, each with every number redrawn with as many digits, none
 * equal to a template (so calibration never sees the accuracy set's own problems).
 */
export function freshVariants(
  templates: readonly CalibrationPrompt[],
  count: number,
  seed: number,
): CalibrationPrompt[] {
  const rng = createRng(seed);
  const redraw = (text: string) =>
    text.replace(/\d+/g, (digits) => {
      const lo = digits.length === 1 ? 0 : 10 ** (digits.length - 1);
      return String(lo + Math.floor(rng.uniform() * (10 ** digits.length - lo)));
    });
  const seen = new Set(templates.map(promptKey));
  const out: CalibrationPrompt[] = [];
  for (let i = 0, tries = 0; out.length < count && tries < 100 * count; tries++, i++) {
    const t = templates[i % templates.length];
    const fresh: CalibrationPrompt = t.kind === "text"
      ? { kind: "text", text: redraw(t.text) }
      : { kind: "chat", messages: t.messages.map((m) => ({ ...m, content: redraw(m.content) })) };
    if (seen.has(promptKey(fresh))) continue;
    seen.add(promptKey(fresh));
    out.push(fresh);
  }
  return out;
}

function promptKey(p: CalibrationPrompt): string {
  return p.kind === "text" ? p.text : JSON.stringify(p.messages.map((m) => [m.role, m.content]));
}

/** Where `calibrationPrompts` takes prompts from. */
export interface PromptChoice {
  /** A prompt file; its first `samples` prompts are used. */
  file?: string;
  samples: number;
  seed: number;
}

/** The held-out set a model folder may ship; calibration draws fresh problems in its format. */
export const HELDOUT_FILE = "heldout.jsonl";

/**
 * The prompts to calibrate `modelDir` on: the file's, else fresh variants of the model's
 * held-out problems, else story openings (repeated when more are asked for).
 */
export async function calibrationPrompts(
  modelDir: string,
  choice: PromptChoice,
): Promise<{ prompts: CalibrationPrompt[]; source: string }> {
  if (choice.file !== undefined) {
    const all = parsePromptFile(await Deno.readTextFile(choice.file), choice.file);
    return {
      prompts: all.slice(0, choice.samples),
      source: `first ${choice.samples} of ${choice.file}`,
    };
  }
  const heldout = `${modelDir}/${HELDOUT_FILE}`;
  try {
    const templates = parsePromptFile(await Deno.readTextFile(heldout), heldout);
    return {
      prompts: freshVariants(templates, choice.samples, choice.seed),
      source:
        `fresh problems in the format of ${HELDOUT_FILE} (numbers redrawn, seed ${choice.seed})`,
    };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const prompts = Array.from(
    { length: choice.samples },
    (_, i): CalibrationPrompt => ({ kind: "text", text: STORY_PROMPTS[i % STORY_PROMPTS.length] }),
  );
  return { prompts, source: "built-in story openings" };
}

/** A prompt as token ids, and whether generation starts inside a think block. */
export interface EncodedPrompt {
  ids: number[];
  startsInThink: boolean;
}

/** Raised for a chat prompt when the model has no chat template. */
export class NoChatTemplateError extends Error {
  /** Explains that chat prompts need a template. */
  constructor() {
    super("Chat prompts need a model with a chat template; give plain-text prompts instead");
    this.name = "NoChatTemplateError";
  }
}

/** Encodes `prompt` as the server would for /v1/chat/completions or /v1/completions. */
export function encodePrompt(
  prompt: CalibrationPrompt,
  tokenizer: Tokenizer,
  template: ChatTemplate | null,
): EncodedPrompt {
  if (prompt.kind === "text") return { ids: tokenizer.encode(prompt.text), startsInThink: false };
  if (template === null) throw new NoChatTemplateError();
  const text = template.render(prompt.messages);
  return {
    ids: tokenizer.encode(text, { addSpecialTokens: false }),
    startsInThink: generationOpensThink(template.generationPrompt(prompt.messages)),
  };
}
