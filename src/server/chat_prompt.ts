/**
 * The token ids of a chat prompt, with the messages' text kept as text: the template's own
 * control tokens (`<|User|>`, `<think>`) are read as tokens, but the same strings typed in a
 * message are spelled with ordinary tokens, so no user can forge a turn or a phase change.
 * @module
 */
import type { ChatMessage, EngineApi } from "../engine/types.ts";

const OPEN = "\u{F0000}";
const CLOSE = "\u{F0001}";

/**
 * Renders `messages` with each non-assistant message's text swapped for a placeholder, then
 * encodes the template's text with control tokens and each message's text without. Assistant
 * messages stay in the template (templates rewrite them, e.g. cutting the reasoning out).
 */
export function encodeChat(
  engine: Pick<EngineApi, "applyChatTemplate" | "encode">,
  messages: readonly ChatMessage[],
  kwargs?: Record<string, unknown>,
): number[] {
  const nonce = crypto.randomUUID().slice(0, 8);
  const held = new Map<string, string>();
  const placed = messages.map((message, i) => {
    if (message.role === "assistant") return message;
    const key = `${OPEN}${nonce}:${i}${CLOSE}`;
    held.set(key, message.content);
    return { ...message, content: key };
  });
  const rendered = engine.applyChatTemplate(placed, kwargs);
  const pattern = new RegExp(`(${OPEN}${nonce}:\\d+${CLOSE})`, "u");
  const ids: number[] = [];
  for (const piece of rendered.split(pattern)) {
    if (piece.length === 0) continue;
    // only the first piece may take the post-processor's special tokens (a BOS)
    const addSpecialTokens = ids.length === 0;
    const text = held.get(piece);
    if (text === undefined) ids.push(...engine.encode(piece, { addSpecialTokens }));
    else ids.push(...engine.encode(text, { addSpecialTokens, parseSpecial: false }));
  }
  return ids;
}
