import { assertEquals, assertThrows } from "@std/assert";
import { Template } from "@huggingface/jinja";
import { findThinkMarkers, generationOpensThink } from "../src/model/chat_template.ts";
import { PhaseTracker } from "../src/kv/phase.ts";
import type { Phase } from "../src/kv/types.ts";

const FIXTURES = new URL("../../shared/fixtures/chat_templates/", import.meta.url);

interface Fixture {
  chat_template: string;
  bos_token: string | null;
  eos_token: string | null;
  added_tokens: { id: number; content: string }[];
}

async function fixtureExists(): Promise<boolean> {
  try {
    await Deno.stat(FIXTURES);
    return true;
  } catch {
    return false;
  }
}

/** The template tests are skipped where the shared fixtures are absent. */
const ignore = !(await fixtureExists());

const MESSAGES = [{ role: "user", content: "What is 3+3?" }];
const WORD = 42; // an ordinary generated token

/** Renders the generation prompt and tracks a stream: thought, </think>, answer, and a stray <think>. */
async function track(name: string, enableThinking?: boolean) {
  const fx: Fixture = JSON.parse(await Deno.readTextFile(new URL(name, FIXTURES)));
  const prompt = new Template(fx.chat_template).render({
    messages: MESSAGES,
    add_generation_prompt: true,
    bos_token: fx.bos_token ?? "",
    eos_token: fx.eos_token ?? "",
    ...(enableThinking === undefined ? {} : { enable_thinking: enableThinking }),
  });
  const markers = findThinkMarkers({ addedTokens: fx.added_tokens });
  const [openId, closeId] = [markers?.open ?? null, markers?.close ?? null];
  const startsInThink = generationOpensThink(prompt);
  const tracker = new PhaseTracker({ openId, closeId, startsInThink, maxTokens: 100 });
  const run = (ids: number[]): Phase[] => ids.map((id) => tracker.observe(id));
  return { openId: openId!, closeId: closeId!, startsInThink, tracker, run };
}

for (
  const name of ["deepseek-r1-distill-qwen.json", "qwq-32b.json", "qwen3-4b-thinking-2507.json"]
) {
  Deno.test({ name: `PhaseTracker starts in think after the ${name} prompt`, ignore }, async () => {
    const r = await track(name);
    assertEquals(r.startsInThink, true);
    assertEquals(r.tracker.peek(), "think");
    const phases = r.run([WORD, WORD, r.closeId, WORD, r.openId, WORD]);
    // an open marker in the answer starts thinking again
    assertEquals(phases, ["think", "think", "think", "answer", "think", "think"]);
  });
}

Deno.test({
  name: "PhaseTracker enters think when Qwen3 emits <think> (enable_thinking true)",
  ignore,
}, async () => {
  const r = await track("qwen3-0.6b.json", true);
  assertEquals(r.startsInThink, false);
  const phases = r.run([r.openId, WORD, r.closeId, WORD]);
  assertEquals(phases, ["think", "think", "think", "answer"]);
  assertEquals(r.tracker.peek(), "answer");
});

Deno.test(
  { name: "PhaseTracker stays in answer for Qwen3 with enable_thinking false", ignore },
  async () => {
    const r = await track("qwen3-0.6b.json", false);
    assertEquals(r.startsInThink, false); // the prompt opens and closes an empty think block
    assertEquals(r.run([WORD, WORD, WORD]), ["answer", "answer", "answer"]);
  },
);

Deno.test("PhaseTracker without markers counts floor(thinkFraction × maxTokens) think tokens", () => {
  const t = new PhaseTracker({ openId: null, closeId: null, startsInThink: false, maxTokens: 10 });
  const phases = Array.from({ length: 10 }, () => t.observe(WORD));
  assertEquals(phases.filter((p) => p === "think").length, 7);
  assertEquals(phases.slice(6, 8), ["think", "answer"]);
  const half = new PhaseTracker({
    openId: null,
    closeId: null,
    startsInThink: false,
    maxTokens: 4,
    thinkFraction: 0.5,
  });
  assertEquals([1, 2, 3].map(() => half.observe(WORD)), ["think", "think", "answer"]);
  const none = new PhaseTracker({
    openId: null,
    closeId: null,
    startsInThink: false,
    maxTokens: 4,
    thinkFraction: 0,
  });
  assertEquals(none.peek(), "answer");
  assertThrows(
    () =>
      new PhaseTracker({
        openId: null,
        closeId: null,
        startsInThink: false,
        maxTokens: 4,
        thinkFraction: 2,
      }),
    RangeError,
  );
});
