import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  ChatTemplate,
  findThinkMarkers,
  generationOpensThink,
  loadChatTemplate,
} from "../src/model/chat_template.ts";
import { ChatTemplateError } from "../src/model/errors.ts";
import { loadTokenizer, Tokenizer } from "../src/model/tokenizer.ts";
import {
  tinyTokenId,
  tinyTokenizerConfigJson,
  tinyTokenizerJson,
  writeTinyTokenizer,
} from "./helpers/tiny_tokenizer.ts";

const FIXTURES = new URL("../../shared/fixtures/chat_templates", import.meta.url).pathname;

interface Fixture {
  chat_template: string;
  bos_token: string | null;
  eos_token: string | null;
  added_tokens: { id: number; content: string }[];
  generation_prompt_suffix: string | Record<string, string>;
  example_render: {
    messages: { role: string; content: string }[];
    add_generation_prompt: boolean;
    output: string;
  };
  example_render_enable_thinking_false?: string;
}

async function fixture(name: string): Promise<Fixture | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${FIXTURES}/${name}.json`));
  } catch {
    return null;
  }
}

// name → does the default generation prompt open a think block?
const CASES: Record<string, boolean> = {
  "deepseek-r1-distill-qwen": true,
  "qwq-32b": true,
  "qwen3-4b-thinking-2507": true,
  "qwen3-0.6b": false,
};

for (const [name, opensThink] of Object.entries(CASES)) {
  const fx = await fixture(name);
  Deno.test({
    name: `ChatTemplate.render() reproduces transformers' render of ${name}`,
    ignore: fx === null,
    fn: () => {
      const t = new ChatTemplate(fx!.chat_template, {
        bosToken: fx!.bos_token,
        eosToken: fx!.eos_token,
      });
      const { messages, add_generation_prompt, output } = fx!.example_render;
      assertEquals(t.render(messages, { addGenerationPrompt: add_generation_prompt }), output);
      const prompt = t.generationPrompt(messages);
      const suffix = fx!.generation_prompt_suffix;
      assertEquals(
        prompt,
        typeof suffix === "string" ? suffix : suffix["enable_thinking unset/true"],
      );
      assertEquals(generationOpensThink(prompt), opensThink);
      const think = fx!.added_tokens.find((t) => t.content === "<think>")!.id;
      const close = fx!.added_tokens.find((t) => t.content === "</think>")!.id;
      assertEquals(findThinkMarkers({ addedTokens: fx!.added_tokens }), { open: think, close });
    },
  });
}

const qwen3 = await fixture("qwen3-0.6b");
Deno.test({
  name: "ChatTemplate.render() passes enable_thinking=false to Qwen3, closing the think block",
  ignore: qwen3 === null,
  fn: () => {
    const t = new ChatTemplate(qwen3!.chat_template, { bosToken: null, eosToken: "<|im_end|>" });
    const opts = { kwargs: { enable_thinking: false } };
    const messages = qwen3!.example_render.messages;
    assertEquals(t.render(messages, opts), qwen3!.example_render_enable_thinking_false);
    const prompt = t.generationPrompt(messages, opts);
    assertEquals(prompt, "<|im_start|>assistant\n<think>\n\n</think>\n\n");
    assertEquals(generationOpensThink(prompt), false);
  },
});

Deno.test("findThinkMarkers() reads the tokenizer's added tokens and is null without them", () => {
  const t = new Tokenizer(tinyTokenizerJson(), tinyTokenizerConfigJson());
  assertEquals(findThinkMarkers(t), {
    open: tinyTokenId("<think>"),
    close: tinyTokenId("</think>"),
  });
  assertEquals(findThinkMarkers({ addedTokens: [{ id: 5, content: "<think>" }] }), null);
});

Deno.test("generationOpensThink() looks at the last open marker only", () => {
  assert(generationOpensThink("a<think>b</think>c<think>\n"));
  assert(!generationOpensThink("a<think>b</think>c"));
  assert(!generationOpensThink("<|im_start|>assistant\n"));
});

Deno.test("loadChatTemplate() renders the tiny checkpoint's R1-style template", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeTinyTokenizer(dir);
    const tokenizer = await loadTokenizer(dir);
    const t = await loadChatTemplate(dir, tokenizer);
    const text = t.render([{ role: "system", content: "Be brief." }, {
      role: "user",
      content: "hi",
    }]);
    assertEquals(text, "<|begin|>Be brief.<|User|>hi<|Assistant|><think>\n");
    assert(generationOpensThink(t.generationPrompt([{ role: "user", content: "hi" }])));
    // chat_template.jinja, when present, wins over tokenizer_config.json.
    await Deno.writeTextFile(`${dir}/chat_template.jinja`, "{{ messages[0]['content'] }}!");
    assertEquals(
      (await loadChatTemplate(dir, tokenizer)).render([{ role: "user", content: "x" }]),
      "x!",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ChatTemplate raises ChatTemplateError on parse errors, raise_exception and no template", () => {
  const tokens = { bosToken: null, eosToken: null };
  assertThrows(() => new ChatTemplate("{% if %}", tokens, "t.jinja"), ChatTemplateError, "t.jinja");
  const strict = new ChatTemplate(
    "{% if messages[0]['role'] != 'user' %}{{ raise_exception('User first') }}{% endif %}",
    tokens,
  );
  assertThrows(
    () => strict.render([{ role: "assistant", content: "x" }]),
    ChatTemplateError,
    "User first",
  );
  const config = { ...tinyTokenizerConfigJson(), chat_template: undefined };
  const bare = new Tokenizer(tinyTokenizerJson(), config);
  assertThrows(() => ChatTemplate.fromTokenizer(bare), ChatTemplateError, "chat_template");
});
