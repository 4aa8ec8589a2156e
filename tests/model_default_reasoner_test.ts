/**
 * The embedded default model, models/phasekv-tiny-reasoner (trained by tools/train_reasoner.py):
 * the project's loader, tokenizer and chat template read it as PyTorch wrote it, and the
 * plain-TypeScript reference forward pass reproduces the logits PyTorch computed from the
 * exported F16 weights, and solves held-out problems.
 */
import { assert, assertEquals, assertGreaterOrEqual } from "@std/assert";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import {
  findThinkMarkers,
  generationOpensThink,
  loadChatTemplate,
} from "../src/model/chat_template.ts";
import { argmax, ReferenceModel } from "./reference/forward.ts";

// PHASEKV_REASONER_DIR points the test at another export of tools/train_reasoner.py.
const DIR = Deno.env.get("PHASEKV_REASONER_DIR") ??
  new URL("../models/phasekv-tiny-reasoner", import.meta.url).pathname;

interface ReferenceInput {
  name: string;
  problem: string | null;
  ids: number[];
  text: string;
  last_logits: number[];
  argmax: number;
  greedy_next_16: number[];
}

interface HeldoutProblem {
  prompt: string;
  messages: { role: string; content: string }[];
  answer: string;
  result: number;
  completion: string;
}

async function readReference(): Promise<{ vocab_size: number; inputs: ReferenceInput[] }> {
  return JSON.parse(await Deno.readTextFile(`${DIR}/reference_logits.json`));
}

async function readHeldout(): Promise<HeldoutProblem[]> {
  const text = await Deno.readTextFile(`${DIR}/heldout.jsonl`);
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

Deno.test("default reasoner: loads as a qwen2 checkpoint with F16 weights", async () => {
  const ckpt = await loadCheckpoint(DIR);
  const tok = await loadTokenizer(DIR);
  const s = ckpt.spec;
  assertEquals(s.arch, "qwen2");
  assert(s.qkvBias, "qwen2 has q/k/v biases");
  assert(!s.qkNorm);
  assert(s.numHeads >= 2 * s.numKvHeads, "grouped-query attention");
  assertEquals(s.numHeads % s.numKvHeads, 0);
  assertEquals(s.vocabSize, tok.vocabSize);
  assertEquals(s.bosTokenId, tok.bosTokenId);
  assert(tok.eosTokenId !== null && s.eosTokenIds.includes(tok.eosTokenId));
  for (const t of ckpt.tensors.values()) assertEquals(t.dtype, "F16", t.name);
  const embed = ckpt.tensors.get("model.embed_tokens.weight");
  assertEquals(embed?.shape, [s.vocabSize, s.hiddenSize]);
  assertEquals(ckpt.tensors.has("lm_head.weight"), !s.tieWordEmbeddings);
  let params = 0;
  for (const t of ckpt.tensors.values()) params += t.shape.reduce((a, b) => a * b, 1);
  assert(params > 200_000 && params < 5_000_000, `${params} parameters`);
});

Deno.test("default reasoner: the chat template and tokenizer give the ids it was trained on", async () => {
  const tok = await loadTokenizer(DIR);
  const template = await loadChatTemplate(DIR, tok);
  const heldout = await readHeldout();
  assertGreaterOrEqual(heldout.length, 500);
  const ref = await readReference();

  const markers = findThinkMarkers(tok);
  assert(markers !== null, "<think> and </think> are added tokens");
  assertEquals(tok.decode([markers.open]), "<think>");
  assertEquals(tok.decode([markers.close]), "</think>");
  assert(generationOpensThink(template.generationPrompt(heldout[0].messages)));

  for (const r of ref.inputs) {
    assertEquals(tok.encode(r.text, { addSpecialTokens: false }), r.ids, r.name);
    assertEquals(tok.decode(r.ids), r.text, r.name);
    if (r.problem === null) continue;
    const p = heldout.find((h) => h.prompt === `What is ${r.problem}?`);
    assert(p, `reference problem ${r.problem} is in heldout.jsonl`);
    const prompt = template.render(p.messages);
    assert(prompt.endsWith("<|Assistant|><think>\n"), JSON.stringify(prompt));
    const promptIds = tok.encode(prompt, { addSpecialTokens: false });
    assertEquals(r.ids.slice(0, promptIds.length), promptIds, r.name);
    // the reference inputs continue with the training completion
    const full = tok.encode(prompt + p.completion, { addSpecialTokens: false });
    assertEquals(full.slice(0, r.ids.length), r.ids, r.name);
  }

  // earlier assistant turns keep only the answer, closed by eos
  const two = template.render([
    heldout[0].messages[0],
    { role: "assistant", content: `<think>\n${heldout[0].completion}` },
    heldout[1].messages[0],
  ]);
  assertEquals(
    two,
    `<|bos|><|User|>${heldout[0].prompt}<|Assistant|>${heldout[0].answer}<|eos|>` +
      `<|User|>${heldout[1].prompt}<|Assistant|><think>\n`,
  );
});

Deno.test("default reasoner: the reference forward pass reproduces PyTorch's logits", async () => {
  const model = ReferenceModel.fromCheckpoint(await loadCheckpoint(DIR));
  const ref = await readReference();
  const eos = model.spec.eosTokenIds;
  for (const r of ref.inputs) {
    model.reset();
    let logits: Float32Array = new Float32Array(0);
    r.ids.forEach((id, pos) => logits = model.forward(id, pos));
    assertEquals(logits.length, ref.vocab_size);
    let maxErr = 0;
    for (let i = 0; i < logits.length; i++) {
      const want = r.last_logits[i];
      maxErr = Math.max(maxErr, Math.abs(logits[i] - want) / Math.max(1, Math.abs(want)));
    }
    assert(maxErr < 2e-3, `${r.name}: max relative logit error ${maxErr}`);
    assertEquals(argmax(logits), r.argmax, r.name);
    const greedy = model.generateGreedy(r.ids, r.greedy_next_16.length);
    const stop = greedy.findIndex((t) => eos.includes(t));
    assertEquals(stop < 0 ? greedy : greedy.slice(0, stop + 1), r.greedy_next_16, r.name);
  }
});

Deno.test("default reasoner: thinks, then answers held-out problems right", async () => {
  const ckpt = await loadCheckpoint(DIR);
  const model = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true });
  const tok = await loadTokenizer(DIR);
  const template = await loadChatTemplate(DIR, tok);
  const markers = findThinkMarkers(tok)!;
  const eos = ckpt.spec.eosTokenIds;
  const heldout = (await readHeldout()).slice(0, 12);
  let right = 0;
  let think = 0;
  let total = 0;
  for (const p of heldout) {
    const prompt = tok.encode(template.render(p.messages), { addSpecialTokens: false });
    model.reset();
    let logits: Float32Array = new Float32Array(0);
    prompt.forEach((id, pos) => logits = model.forward(id, pos));
    const out: number[] = [];
    while (out.length < 128) {
      const next = argmax(logits);
      out.push(next);
      if (eos.includes(next)) break;
      logits = model.forward(next, prompt.length + out.length - 1);
    }
    const close = out.indexOf(markers.close);
    if (close >= 0) think += close + 1;
    total += out.length;
    const answer = close < 0
      ? null
      : tok.decode(out.slice(close + 1), { skipSpecialTokens: true }).trim();
    if (answer === p.answer && eos.includes(out[out.length - 1])) right++;
  }
  assertGreaterOrEqual(right, heldout.length - 2, `${right}/${heldout.length} right`);
  const fraction = think / total;
  assert(fraction > 0.6 && fraction < 0.9, `think fraction ${fraction}`);
});
