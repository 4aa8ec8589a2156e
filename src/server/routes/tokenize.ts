/**
 * POST /tokenize and POST /detokenize, as vLLM serves them: clients count tokens and check
 * prompts against max_model_len without generating.
 * @module
 */
import type { EngineApi } from "../../engine/types.ts";
import { invalidRequest } from "../api_error.ts";
import { encodeChat } from "../chat_prompt.ts";
import { checkModel } from "../request_mapping.ts";
import { parseBody } from "../request_body.ts";
import { type Route, servedModel } from "../route.ts";
import { detokenizeRequestSchema, tokenizeRequestSchema } from "../schemas/tokenize.ts";

/** Token ids of a prompt or of chat messages (the template applied). */
export const tokenizeRoute: Route = {
  method: "POST",
  path: "/tokenize",
  async handle(c, deps) {
    const body = await parseBody(c, tokenizeRequestSchema);
    const engine = deps.engine.get();
    checkModel(body.model, servedModel(deps, engine));
    const tokens = "prompt" in body
      ? engine.encode(body.prompt, { addSpecialTokens: body.add_special_tokens ?? true })
      : chatTokens(engine, body.messages, body.chat_template_kwargs ?? undefined);
    return c.json({
      count: tokens.length,
      max_model_len: engine.maxModelLen,
      tokens,
      token_strs: body.return_token_strs ? tokens.map((id) => engine.decode([id])) : null,
    });
  },
};

/** Text of token ids. */
export const detokenizeRoute: Route = {
  method: "POST",
  path: "/detokenize",
  async handle(c, deps) {
    const body = await parseBody(c, detokenizeRequestSchema);
    const engine = deps.engine.get();
    checkModel(body.model, servedModel(deps, engine));
    const vocabSize = engine.describe?.().vocabSize;
    const bad = vocabSize === undefined ? -1 : body.tokens.findIndex((id) => id >= vocabSize);
    if (bad >= 0) {
      throw invalidRequest(
        `Token ${body.tokens[bad]} is outside the vocabulary of ${vocabSize}`,
        `tokens[${bad}]`,
        "invalid_value",
      );
    }
    return c.json({ prompt: body.tokens.length ? engine.decode(body.tokens) : "" });
  },
};

function chatTokens(
  engine: EngineApi,
  messages: { role: string; content: string | { text: string }[] }[],
  kwargs: Record<string, unknown> | undefined,
): number[] {
  const plain = messages.map((m) => ({
    role: m.role,
    content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join(""),
  }));
  try {
    return encodeChat(engine, plain, kwargs);
  } catch {
    throw invalidRequest("The chat template rejected the messages", "messages");
  }
}
