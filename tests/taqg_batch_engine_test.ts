/**
 * Calibration measures what the server serves: on the default model, the batch runner under a
 * phase policy and recent window generates the same tokens as the engine under the same
 * settings, and counts the same KV bytes the engine reports in usage.
 */
import { assertEquals } from "@std/assert";
import { createEngine } from "../src/engine/engine.ts";
import type { GenerateOutput } from "../src/engine/types.ts";
import { findThinkMarkers, loadChatTemplate } from "../src/model/chat_template.ts";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { DEFAULT_MODEL_DIR } from "../src/config/flags.ts";
import { BatchRunner } from "../src/taqg/batch_runner.ts";
import { encodePrompt } from "../src/taqg/prompts.ts";
import type { Phase } from "../src/kv/types.ts";

const hasGpu = await (async () => {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
})();

const QUESTIONS = ["What is 347+1286?", "What is 9489-13?", "What is 58+7?"];
const POLICY: Record<Phase, string> = { prompt: "int4", think: "int3", answer: "int2" };
const RECENT = 16, MAX = 96;

Deno.test({
  name: "the batch runner generates what the engine serves, under the same policy and window",
  ignore: !hasGpu,
  fn: async () => {
    const dir = DEFAULT_MODEL_DIR;
    const tokenizer = await loadTokenizer(dir);
    const template = await loadChatTemplate(dir, tokenizer);
    const prompts = QUESTIONS.map((q) =>
      encodePrompt({ kind: "chat", messages: [{ role: "user", content: q }] }, tokenizer, template)
    );
    const engine = await createEngine({
      model: dir,
      inProcess: true,
      kvProfile: "none",
      kvCacheDtype: POLICY.prompt,
      kvCacheDtypeThink: POLICY.think,
      kvCacheDtypeAnswer: POLICY.answer,
      kvRecentTokens: RECENT,
    });
    const served: { ids: number[]; bytes: number }[] = [];
    try {
      for (const p of prompts) {
        const outputs: GenerateOutput[] = [];
        for await (const o of engine.generate({ promptIds: p.ids, maxTokens: MAX })) {
          outputs.push(o);
        }
        const usage = outputs.at(-1)!.usage!;
        served.push({
          ids: outputs.flatMap((o) => o.tokenIds),
          bytes: Object.values(usage.kv.phases).reduce((n, u) => n + u.bytes, 0),
        });
      }
    } finally {
      await engine.close();
    }
    const markers = findThinkMarkers(tokenizer)!;
    const runner = await BatchRunner.open(await loadCheckpoint(dir), {
      maxSeqs: 3,
      maxTokens: 160,
      maxPromptRows: 96,
      markers: { openId: markers.open, closeId: markers.close },
    });
    try {
      const results = await runner.run(
        prompts.map((p) => ({ promptIds: p.ids, startsInThink: p.startsInThink })),
        {
          dtypeOf: (b) => POLICY[b.phase],
          recentTokens: RECENT,
          maxTokens: MAX,
        },
      );
      // the engine's outputs leave out nothing but the stop token's text: its ids include it
      assertEquals(results.map((r) => r.ids), served.map((s) => s.ids));
      assertEquals(results.map((r) => r.kvBytes), served.map((s) => s.bytes));
    } finally {
      runner.destroy();
    }
  },
});
