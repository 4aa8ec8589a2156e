/**
 * Logprobs in OpenAI's shapes: chat's `logprobs.content` (token, logprob, bytes, top_logprobs)
 * and text completions' `tokens` / `token_logprobs` / `top_logprobs` / `text_offset`. The values
 * come from the engine, computed on the GPU next to sampling, before temperature.
 * @module
 */
import type { GenerateOutput, ThinkMarkerText } from "../engine/types.ts";
import type { Phase } from "../kv/types.ts";

/** One generated token's logprob, ready for the API. */
export interface TokenEntry {
  phase: Phase;
  token: string;
  logprob: number;
  top: { token: string; logprob: number }[];
}

/** The entries of one output; markers and forced tokens have none. */
export function entriesOf(
  output: GenerateOutput,
  tokenText: (id: number) => string,
  markers: ThinkMarkerText | null,
): TokenEntry[] {
  const entries: TokenEntry[] = [];
  output.logprobs?.forEach((lp) => {
    if (!lp) return;
    const token = tokenText(lp.token);
    if (markers && (token === markers.open || token === markers.close)) return;
    const top = lp.top.map((t) => ({ token: tokenText(t.token), logprob: t.logprob }));
    entries.push({ phase: output.phase, token, logprob: lp.logprob, top });
  });
  return entries;
}

const utf8 = new TextEncoder();

/** Chat's `choices[].logprobs`: answer tokens in `content`, think tokens in `reasoning`. */
export function chatLogprobs(entries: readonly TokenEntry[], includeReasoning: boolean) {
  const item = (e: { token: string; logprob: number }) => ({
    token: e.token,
    logprob: e.logprob,
    bytes: [...utf8.encode(e.token)],
  });
  const full = (e: TokenEntry) => ({ ...item(e), top_logprobs: e.top.map(item) });
  const json: Record<string, unknown> = {
    content: entries.filter((e) => e.phase === "answer").map(full),
  };
  if (includeReasoning) json.reasoning = entries.filter((e) => e.phase === "think").map(full);
  return json;
}

/** Text completions' `choices[].logprobs`, offsets counted from `offset` characters. */
export function completionLogprobs(entries: readonly TokenEntry[], offset: number) {
  const textOffset: number[] = [];
  let at = offset;
  for (const e of entries) {
    textOffset.push(at);
    at += e.token.length;
  }
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top.map((t) => [t.token, t.logprob]))),
    text_offset: textOffset,
  };
}
