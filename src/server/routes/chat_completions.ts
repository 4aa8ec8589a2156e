/**
 * POST /v1/chat/completions: render the chat template, tokenize (message text never as control
 * tokens), check the context, generate, and stream the reasoning apart from the answer.
 * @module
 */
import type { ChatMessage, EngineApi } from "../../engine/types.ts";
import { ChatTemplateError } from "../../model/errors.ts";
import { invalidRequest } from "../api_error.ts";
import { ChatFormat } from "../chat_format.ts";
import { encodeChat } from "../chat_prompt.ts";
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
    const identity = newIdentity("chatcmpl", model);
    const promptIds = renderChat(engine, body.messages, body.chat_template_kwargs ?? undefined);
    if (body.top_logprobs != null && !body.logprobs) {
      throw invalidRequest("top_logprobs needs logprobs: true", "top_logprobs");
    }
    const request = {
      ...toGenerateRequest(engine, body, promptIds, "messages", identity.id),
      logprobs: body.logprobs ? body.top_logprobs ?? 0 : undefined,
    };
    const generation = await Generation.start(engine, request, c.req.raw.signal, timer);
    const format = new ChatFormat(identity, {
      includeReasoning: body.include_reasoning ?? true,
      reasoningField: deps.reasoningField,
    });
    return respond(c, generation, format, {
      stream: body.stream ?? false,
      includeUsage: body.stream_options?.include_usage ?? false,
      tally: new UsageTally(request.promptIds.length),
      markers: engine.thinkMarkers ?? null,
      log: (line) => deps.log.info(line),
      tokenText: body.logprobs ? (id: number) => engine.decode([id]) : undefined,
      requestId: identity.id,
    });
  },
};

// a template may refuse a conversation (`raise_exception`, e.g. roles that do not alternate):
// that is the request's fault, as in vLLM; the message says why without the server's paths
function renderChat(
  engine: EngineApi,
  messages: ChatRequestMessage[],
  kwargs: Record<string, unknown> | undefined,
): number[] {
  try {
    return encodeChat(engine, messages.map(toChatMessage), kwargs);
  } catch (err) {
    const cause = err instanceof ChatTemplateError ? err.cause : err;
    const why = cause instanceof RangeError || !(cause instanceof Error)
      ? "the template could not render them"
      : cause.message;
    throw invalidRequest(`The chat template rejected the messages: ${why}`, "messages");
  }
}

function toChatMessage(message: ChatRequestMessage): ChatMessage {
  const content = typeof message.content === "string"
    ? message.content
    : message.content.map((part) => part.text).join("");
  return { role: message.role, content };
}
