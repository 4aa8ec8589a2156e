/**
 * POST /v1/chat/completions: render the chat template, tokenize, check the context, generate,
 * and stream reasoning (`reasoning_content`) apart from the answer (`content`).
 * @module
 */
import type { ChatMessage, EngineApi } from "../../engine/types.ts";
import { invalidRequest } from "../api_error.ts";
import { ChatFormat } from "../chat_format.ts";
import { Generation } from "../generation.ts";
import { checkModel, toGenerateRequest } from "../request_mapping.ts";
import { respond } from "../respond.ts";
import { newIdentity } from "../response_identity.ts";
import { type Route, servedModel } from "../route.ts";
import { type ChatRequestMessage, chatRequestSchema } from "../schemas/chat.ts";
import { parseBody } from "../request_body.ts";
import { UsageTally } from "../usage.ts";

/** The chat completions route. */
export const chatCompletionsRoute: Route = {
  method: "POST",
  path: "/v1/chat/completions",
  async handle(c, deps) {
    const timer = deps.metrics.startRequest();
    const body = await parseBody(c, chatRequestSchema);
    const engine = deps.engine.get();
    const model = servedModel(deps, engine);
    checkModel(body.model, model);
    const prompt = renderChat(engine, body.messages, body.chat_template_kwargs ?? undefined);
    const request = toGenerateRequest(engine, body, engine.encode(prompt), "messages");
    const generation = await Generation.start(engine, request, c.req.raw.signal, timer);
    const includeReasoning = body.include_reasoning ?? true;
    return respond(
      c,
      generation,
      new ChatFormat(newIdentity("chatcmpl", model), includeReasoning),
      {
        stream: body.stream ?? false,
        includeUsage: body.stream_options?.include_usage ?? false,
        tally: new UsageTally(request.promptIds.length),
      },
    );
  },
};

// a template may refuse a conversation (`raise_exception`, e.g. roles that do not alternate):
// that is the request's fault, as in vLLM
function renderChat(
  engine: EngineApi,
  messages: ChatRequestMessage[],
  kwargs: Record<string, unknown> | undefined,
): string {
  try {
    return engine.applyChatTemplate(messages.map(toChatMessage), kwargs);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw invalidRequest(`The chat template rejected the messages: ${why}`, "messages");
  }
}

function toChatMessage(message: ChatRequestMessage): ChatMessage {
  const content = typeof message.content === "string"
    ? message.content
    : message.content.map((part) => part.text).join("");
  return { role: message.role, content };
}
