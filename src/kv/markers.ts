/**
 * Finding a model's think markers: their ids among the tokenizer's added tokens, and whether a
 * rendered prompt leaves a think block open.
 * @module
 */

/** The think marker strings of DeepSeek-R1 distills, QwQ and Qwen3. */
export const THINK_MARKERS: { readonly open: string; readonly close: string } = {
  open: "<think>",
  close: "</think>",
};

/** Token ids of the think markers (null where the tokenizer lacks one). */
export interface ThinkMarkerIds {
  /** Id of the open marker. */
  openId: number | null;
  /** Id of the close marker. */
  closeId: number | null;
}

/** The marker ids among `addedTokens` (tokenizer.json `added_tokens` entries), by content. */
export function thinkMarkerIds(
  addedTokens: readonly { id: number; content: string }[],
  markers: { open: string; close: string } = THINK_MARKERS,
): ThinkMarkerIds {
  const idOf = (content: string) => addedTokens.find((t) => t.content === content)?.id ?? null;
  return { openId: idOf(markers.open), closeId: idOf(markers.close) };
}

/** Whether `prompt` ends inside a think block: its last open marker has no close after it. */
export function promptOpensThink(
  prompt: string,
  markers: { open: string; close: string } = THINK_MARKERS,
): boolean {
  const open = prompt.lastIndexOf(markers.open);
  return open >= 0 && prompt.indexOf(markers.close, open + markers.open.length) < 0;
}
