/**
 * Body of POST /v1/chat/completions.
 * @module
 */
import { z } from "zod";
import { samplingSchema } from "./sampling.ts";

const textPart = z.object({ type: z.literal("text"), text: z.string() });

const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(textPart)]),
});

/** Zod schema of a chat completion request. */
export const chatRequestSchema = samplingSchema.extend({
  messages: z.array(message).min(1),
  max_completion_tokens: z.int().min(1).nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.int().min(0).max(20).nullish(),
});

/** A chat completion request, parsed. */
export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** One message of a chat request, parsed. */
export type ChatRequestMessage = ChatRequest["messages"][number];
