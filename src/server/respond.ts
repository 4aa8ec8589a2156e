/**
 * Sends a generation to the client: as server-sent events (`stream: true`) or as one JSON
 * response. The route supplies the shapes (chat or text completion); this drives the order:
 * opening chunks, deltas, the finish chunk, the usage chunk, `[DONE]`.
 * @module
 */
import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { FinishReason, GenerateOutput, ThinkMarkerText } from "../engine/types.ts";
import { entriesOf } from "./logprobs_format.ts";
import { toApiError } from "./error_map.ts";
import type { Generation } from "./generation.ts";
import { type PhaseText, splitPhaseText } from "./phase_text.ts";
import type { UsageJson, UsageTally } from "./usage.ts";

/** A JSON object of a response or chunk. */
export type JsonObject = Record<string, unknown>;

/** How one route shapes its responses. */
export interface ResponseFormat {
  /** Chunks sent before the first output (chat's role chunk). */
  opening(): JsonObject[];
  /** The chunk for one output's text, or null when it has nothing to show. */
  delta(text: PhaseText): JsonObject | null;
  /** The chunk that carries the finish reason. */
  closing(reason: FinishReason): JsonObject;
  /** The usage chunk (its `choices` is empty). */
  usage(usage: UsageJson): JsonObject;
  /** The whole non-streamed response. */
  whole(text: PhaseText, reason: FinishReason, usage: UsageJson): JsonObject;
}

/** What respond() needs beside the generation. */
export interface RespondOptions {
  stream: boolean;
  includeUsage: boolean;
  tally: UsageTally;
  /** The model's think markers, kept out of the text. */
  markers?: ThinkMarkerText | null;
  /** Takes the request's log line once it ends. */
  log?: (line: string) => void;
  /** The response id the log line names. */
  requestId?: string;
  /** A token's text; set when the request asked for logprobs. */
  tokenText?: (id: number) => string;
}

function pieceOf(output: GenerateOutput, options: RespondOptions): PhaseText {
  const piece = splitPhaseText(output, options.markers);
  if (options.tokenText) {
    piece.logprobs = entriesOf(output, options.tokenText, options.markers ?? null);
  }
  return piece;
}

/** One log line for a finished request: id, outcome, tokens by phase, KV bytes and timings. */
export function requestLine(
  id: string,
  outcome: string,
  usage: UsageJson,
  timings: { ttftSeconds: number | null; seconds: number },
): string {
  const think = usage.completion_tokens_details.reasoning_tokens;
  const kvBytes = Object.values(usage.kv?.phases ?? {}).reduce((n, p) => n + p.bytes, 0);
  const ttft = timings.ttftSeconds === null ? "-" : `${timings.ttftSeconds.toFixed(3)}s`;
  return `${id} ${outcome} prompt=${usage.prompt_tokens} think=${think} ` +
    `answer=${usage.completion_tokens - think} kv_bytes=${kvBytes} ttft=${ttft} ` +
    `duration=${timings.seconds.toFixed(3)}s`;
}

/** Streams or collects `generation` in `format`. */
export function respond(
  c: Context,
  generation: Generation,
  format: ResponseFormat,
  options: RespondOptions,
): Response | Promise<Response> {
  const done = (outcome: string) =>
    options.log?.(
      requestLine(
        options.requestId ?? "-",
        outcome,
        options.tally.toJson(),
        generation.timer.timings(),
      ),
    );
  if (!options.stream) {
    return collect(c, generation, format, options).then(
      (res) => {
        done(`200 ${generation.finishReason ?? "abort"}`);
        return res;
      },
      (err) => {
        done(`${toApiError(err).status} error`);
        throw err;
      },
    );
  }
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => generation.cancel());
    const send = (chunk: JsonObject) => stream.writeSSE({ data: JSON.stringify(chunk) });
    let outcome = "";
    try {
      await sendAll(stream, send, generation, format, options);
      outcome = stream.aborted ? "abort" : (generation.finishReason ?? "abort");
    } catch (err) {
      outcome = "error";
      // headers are gone: the error travels as a data event, which OpenAI clients raise
      if (!stream.aborted) await send({ ...toApiError(err).toBody() });
    }
    if (!stream.aborted) await stream.writeSSE({ data: "[DONE]" });
    done(`200 ${outcome} stream`);
  });
}

async function sendAll(
  stream: SSEStreamingApi,
  send: (chunk: JsonObject) => Promise<void>,
  generation: Generation,
  format: ResponseFormat,
  options: RespondOptions,
): Promise<void> {
  const { includeUsage, tally } = options;
  for (const chunk of format.opening()) await send(chunk);
  let reason: FinishReason | undefined;
  for await (const output of generation.outputs()) {
    tally.add(output);
    const chunk = format.delta(pieceOf(output, options));
    if (chunk !== null && !stream.aborted) await send(chunk);
    reason = output.finishReason;
  }
  if (!reason || stream.aborted) return;
  await send(format.closing(reason));
  if (includeUsage) await send(format.usage(tally.toJson()));
}

async function collect(
  c: Context,
  generation: Generation,
  format: ResponseFormat,
  options: RespondOptions,
): Promise<Response> {
  const { tally } = options;
  const text: PhaseText = {
    reasoning: "",
    content: "",
    logprobs: options.tokenText ? [] : undefined,
  };
  let reason: FinishReason = "abort";
  for await (const output of generation.outputs()) {
    tally.add(output);
    const piece = pieceOf(output, options);
    text.reasoning += piece.reasoning;
    text.content += piece.content;
    text.logprobs?.push(...piece.logprobs ?? []);
    if (output.finishReason) reason = output.finishReason;
  }
  return c.json(format.whole(text, reason, tally.toJson()));
}
