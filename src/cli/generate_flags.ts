/**
 * The flags of `deno task generate`, parsed and checked before any model is loaded, so that a
 * typo costs no loading time and the message names the flag at fault. The engine and sampling
 * flags are the shared ones (src/config/flags.ts).
 * @module
 */
import { z } from "zod";
import {
  flag,
  FlagError,
  type FlagValues,
  omitFlags,
  parseFlags,
  usageText,
} from "../config/flag_parser.ts";
import { ENGINE_FLAGS, MODEL_FLAGS, SAMPLING_FLAGS, text, toggle } from "../config/flags.ts";

export { FlagError as GenerateFlagError } from "../config/flag_parser.ts";

const tokenIds: z.ZodType<number[]> = z.string().transform((s, ctx) => {
  const ids = s.split(",").map((t) => Number(t.trim()));
  if (ids.every((id) => Number.isInteger(id) && id >= 0)) return ids;
  ctx.addIssue({ code: "custom", message: `expects comma-separated token ids, got "${s}"` });
  return z.NEVER;
});

/** Every flag of `deno task generate`. */
export const GENERATE_FLAGS = {
  ...MODEL_FLAGS,
  prompt: flag(text.optional(), "prompt text (tokenized by the model's tokenizer)", {
    value: "TEXT",
  }),
  "prompt-ids": flag(tokenIds.optional(), "prompt token ids, comma-separated", { value: "IDS" }),
  chat: flag(toggle, "render --prompt as a user message with the chat template"),
  ...SAMPLING_FLAGS,
  // one sequence: the batch and queue limits have nothing to do (the step size still chunks
  // the prompt)
  ...omitFlags(ENGINE_FLAGS, ["max-num-seqs", "max-waiting"]),
  json: flag(toggle, "print one JSON object (ids, text, KV usage) as the last line"),
};

/** The generate command's settings; exactly one of prompt and promptIds is set. */
export type GenerateFlags = FlagValues<typeof GENERATE_FLAGS>;

/** Usage text of `deno task generate`. */
export const GENERATE_USAGE: string = usageText(
  "deno task generate (--prompt TEXT | --prompt-ids 1,2,3) [options]",
  GENERATE_FLAGS,
  "One generation through the serving engine; text on stdout as it comes.",
);

/** Parses the command line; null when --help was asked. Throws FlagError. */
export function parseGenerateArgs(args: readonly string[]): GenerateFlags | null {
  const flags = parseFlags(GENERATE_FLAGS, args);
  if (flags && (flags.prompt === undefined) === (flags.promptIds === undefined)) {
    throw new FlagError("--prompt", "give exactly one of --prompt and --prompt-ids");
  }
  return flags;
}
