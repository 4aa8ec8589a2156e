/**
 * Turns a validated OpenAI body into the engine's GenerateRequest: checks the model name, the
 * context budget and the KV dtype names, and renames fields (snake_case HTTP, camelCase engine).
 * @module
 */
import { ContextLengthError } from "../engine/errors.ts";
import type { EngineApi, GenerateRequest } from "../engine/types.ts";
import type { SamplingParams } from "../runner/types.ts";
import { ApiError, invalidRequest } from "./api_error.ts";
import type { SamplingFields } from "./schemas/sampling.ts";

/** The body fields the mapping reads: the shared ones plus chat's token limit alias. */
export type MappedFields = SamplingFields & { max_completion_tokens?: number | null };

/** Throws a 404 unless `requested` is absent or the served name (absent is fine, as in vLLM). */
export function checkModel(requested: string | null | undefined, served: string): void {
  if (requested == null || requested === served) return;
  throw new ApiError(
    404,
    `The model '${requested}' does not exist; this server serves '${served}'`,
    {
      type: "invalid_request_error",
      param: "model",
      code: "model_not_found",
    },
  );
}

/**
 * Builds the engine request; `promptParam` names the body field the prompt came from, and
 * `requestId` (the response's id) names the request in /v1/kv and the logs.
 */
export function toGenerateRequest(
  engine: EngineApi,
  body: MappedFields,
  promptIds: number[],
  promptParam: string,
  requestId?: string,
): GenerateRequest {
  const [limitParam, limit] = body.max_completion_tokens != null
    ? ["max_completion_tokens", body.max_completion_tokens]
    : ["max_tokens", body.max_tokens];
  const maxTokens = contextBudget(engine.maxModelLen, promptIds.length, limit, {
    promptParam,
    limitParam,
  });
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  return {
    requestId,
    promptIds,
    maxTokens,
    sampling: samplingOf(body),
    stop: stop.filter((s) => s.length > 0),
    stopTokenIds: body.stop_token_ids ?? [],
    ignoreEos: body.ignore_eos ?? false,
    presencePenalty: body.presence_penalty ?? 0,
    frequencyPenalty: body.frequency_penalty ?? 0,
    kvCacheDtypeThink: kvDtype(engine, body.kv_cache_dtype_think, "kv_cache_dtype_think"),
    kvCacheDtypeAnswer: kvDtype(engine, body.kv_cache_dtype_answer, "kv_cache_dtype_answer"),
    maxThinkTokens: body.max_think_tokens ?? undefined,
  };
}

/** Tokens left for the completion; a 400 when the prompt or the asked limit does not fit. */
export function contextBudget(
  maxModelLen: number,
  promptLen: number,
  limit: number | null | undefined,
  params: { promptParam: string; limitParam: string },
): number {
  if (promptLen === 0) throw invalidRequest("The prompt is empty", params.promptParam);
  if (promptLen >= maxModelLen) {
    throw invalidRequest(
      `${new ContextLengthError(promptLen, maxModelLen).message} by '${params.promptParam}', ` +
        "which leaves no room for a completion",
      params.promptParam,
      "context_length_exceeded",
    );
  }
  if (limit == null) return maxModelLen - promptLen;
  if (promptLen + limit > maxModelLen) {
    throw invalidRequest(
      `${new ContextLengthError(promptLen + limit, maxModelLen).message} ` +
        `(${promptLen} in the prompt, ${limit} in ${params.limitParam})`,
      params.limitParam,
      "context_length_exceeded",
    );
  }
  return limit;
}

function samplingOf(body: SamplingFields): Partial<SamplingParams> {
  const sampling: Partial<SamplingParams> = {};
  if (body.temperature != null) sampling.temperature = body.temperature;
  if (body.top_p != null) sampling.topP = body.top_p;
  if (body.top_k != null) sampling.topK = Math.max(0, body.top_k);
  if (body.min_p != null) sampling.minP = body.min_p;
  if (body.seed != null) sampling.seed = body.seed;
  return sampling;
}

function kvDtype(engine: EngineApi, name: string | null | undefined, param: string) {
  // `auto` leaves the phase to the server's own policy
  if (name == null || name.trim().toLowerCase() === "auto") return undefined;
  try {
    return engine.resolveKvDtype(name);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw invalidRequest(`Invalid value for '${param}': ${err.message}`, param, "invalid_kv_dtype");
  }
}
