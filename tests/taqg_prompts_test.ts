import { assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { freshVariants, parsePromptFile, PromptFileError } from "../src/taqg/prompts.ts";

Deno.test("parsePromptFile reads held-out JSON lines as chats and other files as plain lines", () => {
  const jsonl = '{"prompt": "What is 1+2?", "answer": "3"}\n' +
    '{"messages": [{"role": "user", "content": "Hi"}]}\n';
  assertEquals(parsePromptFile(jsonl, "a.jsonl"), [
    { kind: "chat", messages: [{ role: "user", content: "What is 1+2?" }] },
    { kind: "chat", messages: [{ role: "user", content: "Hi" }] },
  ]);
  assertEquals(parsePromptFile("one\n\ntwo\n", "a.txt"), [
    { kind: "text", text: "one" },
    { kind: "text", text: "two" },
  ]);
  assertThrows(() => parsePromptFile("\n", "empty.txt"), PromptFileError, "no prompt");
  assertThrows(() => parsePromptFile('{"answer": 3}', "b.jsonl"), PromptFileError, "line 1");
});

Deno.test("freshVariants redraws every number with its digit count and never repeats a template", () => {
  const templates = parsePromptFile(
    '{"prompt": "What is 3930+46?"}\n{"prompt": "What is 7-5?"}',
    "t",
  );
  const fresh = freshVariants(templates, 6, 1);
  assertEquals(fresh.length, 6);
  const texts = fresh.map((p) => (p.kind === "chat" ? p.messages[0].content : p.text));
  texts.forEach((t, i) => {
    const shape = i % 2 === 0 ? /^What is \d{4}\+\d{2}\?$/ : /^What is \d-\d\?$/;
    assertEquals(shape.test(t), true, t);
    assertNotEquals(t, i % 2 === 0 ? "What is 3930+46?" : "What is 7-5?");
  });
  assertEquals(new Set(texts).size, texts.length);
  assertEquals(freshVariants(templates, 6, 1), fresh, "the seed alone fixes the draw");
});
