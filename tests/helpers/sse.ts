/**
 * Reads server-sent events in tests: the `data:` payloads of a text/event-stream body.
 * @module
 */

/** The `data` payload of each event in `body`, in order. */
export function sseData(body: string): string[] {
  return body.split(/\r?\n\r?\n/).filter((event) => event.trim()).map((event) =>
    event.split(/\r?\n/).filter((line) => line.startsWith("data:")).map((line) =>
      line.slice(5).replace(/^ /, "")
    ).join("\n")
  );
}

/** The JSON chunks of an OpenAI stream, and whether it ended with `[DONE]`. */
export function openAiChunks(body: string): { chunks: Record<string, unknown>[]; done: boolean } {
  const data = sseData(body);
  const done = data.at(-1) === "[DONE]";
  const chunks = (done ? data.slice(0, -1) : data).map((d) => JSON.parse(d));
  return { chunks, done };
}
