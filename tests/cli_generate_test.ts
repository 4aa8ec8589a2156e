import { assert, assertEquals } from "@std/assert";
import { kvDtype } from "../src/kv/dtype.ts";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import type { GenerateJson } from "../src/cli/generate.ts";
import { PhasePrinter } from "../src/cli/phase_printer.ts";
import type { GenerateOutput } from "../src/engine/types.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";
import { tinyTokenId } from "./helpers/tiny_tokenizer.ts";
import { ReferenceModel } from "./reference/forward.ts";

const CLI = new URL("../src/cli/generate.ts", import.meta.url).pathname;
const STORIES = new URL("../../shared/models/stories260k/", import.meta.url).pathname;
const hasStories = await Deno.stat(STORIES).then(() => true, () => false);
const PROMPT = [5, 6, 7, 8, 9, 10, 11];

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function generate(args: string[]): Promise<CliRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** The JSON object of the last stdout line of a successful --json run. */
async function generateJson(args: string[]): Promise<GenerateJson> {
  const run = await generate([...args, "--json"]);
  assertEquals(run.code, 0, run.stderr);
  const lines = run.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** Greedy ids of the reference forward pass (f16 weights and KV), cut after the first EOS. */
async function referenceIds(dir: string, prompt: number[], maxTokens: number): Promise<number[]> {
  const ckpt = await loadCheckpoint(dir);
  const ids = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true })
    .generateGreedy(prompt, maxTokens);
  const eos = ids.findIndex((t) => ckpt.spec.eosTokenIds.includes(t));
  return eos < 0 ? ids : ids.slice(0, eos + 1);
}

Deno.test("generate --json prints the reference's greedy ids with f16 KV (tiny llama)", async () => {
  const dir = await makeTinyCheckpoint({ arch: "llama", seed: 5 });
  try {
    const expected = await referenceIds(dir, PROMPT, 12);
    const json = await generateJson([
      "--model",
      dir,
      "--prompt-ids",
      PROMPT.join(","),
      "--max-tokens",
      "12",
      "--block-size",
      "4",
      "--kv-cache-memory",
      "1MiB",
    ]);
    assertEquals(json.prompt_ids, PROMPT);
    assertEquals(json.ids, expected);
    assertEquals(typeof json.text, "string");
    for (const phase of Object.values(json.kv!.phases)) {
      assertEquals(Object.keys(phase.dtypes).filter((d) => d !== "f16"), []);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "generate --json prints the reference's greedy ids on stories260k",
  ignore: !hasStories,
  fn: async () => {
    const prompt = [1, 403, 407, 261, 378];
    const expected = await referenceIds(STORIES, prompt, 24);
    const json = await generateJson([
      "--model",
      STORIES,
      "--prompt-ids",
      prompt.join(","),
      "--max-tokens",
      "24",
      "--kv-cache-memory",
      "4MiB",
    ]);
    assertEquals(json.ids, expected);
    assert(json.text.length > 0, "stories260k has a tokenizer: the ids have text");
  },
});

Deno.test("generate reports per-phase KV dtypes, blocks and bytes; int4 think costs fewer bytes", async () => {
  const dir = await makeTinyCheckpoint({ arch: "qwen2", seed: 7 });
  try {
    const ckpt = await loadCheckpoint(dir);
    const { numLayers, numKvHeads, headDim } = ckpt.spec;
    const blockSize = 4;
    // the prompt ends inside a think block, which the engine closes itself after 9 think tokens
    const prompt = [...PROMPT, tinyTokenId("<think>")];
    const common = [
      "--model",
      dir,
      "--prompt-ids",
      prompt.join(","),
      "--max-tokens",
      "20",
      "--max-think-tokens",
      "9",
      "--block-size",
      String(blockSize),
      "--kv-cache-memory",
      "1MiB",
      // no recent window: blocks are sealed as soon as they close
      "--kv-recent-tokens",
      "0",
    ];
    const f16 = await generateJson(common);
    const mixed = await generateJson([
      ...common,
      "--kv-cache-dtype-think",
      "int4",
      "--kv-cache-dtype-answer",
      "q8", // an alias of int8
    ]);
    assertEquals(
      mixed.ids.length,
      20,
      "the tiny model must not stop early for this test to mean much",
    );
    const kv = mixed.kv!;
    const { prompt: p, think, answer } = kv.phases;
    assertEquals(p.tokens, prompt.length);
    assertEquals(p.dtypes, { f16: Math.ceil(prompt.length / blockSize) });
    // every think block was closed by the phase change, so every one is sealed
    assert(think.blocks >= 2, `think blocks: ${think.blocks}`);
    assertEquals(think.dtypes, { int4: think.blocks });
    // answer blocks: sealed int8 ones, then the open f16 block the last tokens went into
    assert((answer.dtypes.int8 ?? 0) >= 1, JSON.stringify(answer.dtypes));
    assertEquals(answer.dtypes.f16, 1);
    assertEquals(answer.blocks, answer.dtypes.int8 + 1);
    assertEquals(p.tokens + think.tokens + answer.tokens, prompt.length + mixed.ids.length - 1);
    // bytes count every block whole, scales included, in every layer
    const layout = { numKvHeads, blockSize, headDim };
    let bytes = 0, tokens = 0;
    for (const phase of [p, think, answer]) {
      const expected = Object.entries(phase.dtypes)
        .reduce((sum, [d, n]) => sum + n * kvDtype(d).blockBytes(layout) * numLayers, 0);
      assertEquals(phase.bytes, expected);
      bytes += phase.bytes;
      tokens += phase.tokens;
    }
    assertEquals(kv.bytes_per_token, bytes / tokens);
    assertEquals(
      kv.bits_per_element,
      (bytes * 8) / (tokens * numLayers * 2 * numKvHeads * headDim),
    );
    assertEquals(f16.kv!.phases.think.dtypes, { f16: f16.kv!.phases.think.blocks });
    assert(
      kv.bytes_per_token < f16.kv!.bytes_per_token,
      `${kv.bytes_per_token} bytes/token with int4 think, ${f16.kv!.bytes_per_token} with f16`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generate rejects bad flags before loading a model, naming the flag", async () => {
  const cases: [string[], string][] = [
    [["--kv-cache-dtype-think", "int5"], "--kv-cache-dtype-think"],
    [["--kv-cache-dtype", "float7"], "--kv-cache-dtype"],
    [["--max-tokens=-4"], "--max-tokens"],
    [["--max-tokens", "-4"], "--max-tokens"],
    [["--max-tokens", "2.5"], "--max-tokens"],
    [["--kv-cache-memory", "12XB"], "--kv-cache-memory"],
    [["--think-fraction", "1.5"], "--think-fraction"],
    [["--unknown-flag", "1"], "--unknown-flag"],
    [["--weights-dtype", "q4"], "--weights-dtype"],
  ];
  for (const [args, flag] of cases) {
    // the model folder does not exist: only flag checking may run
    const run = await generate(["--model", "/nonexistent", "--prompt-ids", "1,2", ...args]);
    assertEquals(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert(run.stderr.startsWith(`generate: ${flag}:`), `${args.join(" ")}: ${run.stderr}`);
  }
  const neither = await generate(["--model", "/nonexistent"]);
  assertEquals(neither.code, 2);
  assert(neither.stderr.includes("--prompt-ids"), neither.stderr);
});

Deno.test("PhasePrinter keeps reasoning and answer apart: labels in a pipe, dim on a terminal", () => {
  const outputs: GenerateOutput[] = [
    { tokenIds: [1], text: "let me", phase: "think" },
    { tokenIds: [2], text: " think", phase: "think" },
    { tokenIds: [3], text: "", phase: "think" },
    { tokenIds: [4], text: "42", phase: "answer" },
  ];
  const print = (color: boolean) => {
    const chunks: Uint8Array[] = [];
    const sink = {
      writeSync: (bytes: Uint8Array) => {
        chunks.push(bytes.slice());
        return bytes.length;
      },
    };
    const printer = new PhasePrinter(sink, color);
    outputs.forEach((o) => printer.write(o));
    printer.end();
    return chunks.map((c) => new TextDecoder().decode(c)).join("");
  };
  assertEquals(print(false), "[reasoning]\nlet me think\n[answer]\n42\n");
  assertEquals(print(true), "\x1b[2mlet me\x1b[22m\x1b[2m think\x1b[22m\n42\n");
});

Deno.test("generate on the default model follows its calibration profile unless --kv-profile none", async () => {
  const args = ["--prompt", "What is 12+34?", "--chat", "--max-tokens", "80", "--block-size", "4"];
  const profiled = await generateJson(args);
  const profile = JSON.parse(
    await Deno.readTextFile(
      new URL("../models/phasekv-tiny-reasoner/phasekv.profile.json", import.meta.url),
    ),
  );
  // every sealed think block is in the profile's think dtype (the open block stays f16)
  const think = Object.keys(profiled.kv!.phases.think.dtypes).filter((d) => d !== "f16");
  assertEquals(think, [profile.phases.think]);
  const plain = await generateJson([...args, "--kv-profile", "none"]);
  for (const phase of ["prompt", "think", "answer"] as const) {
    assertEquals(Object.keys(plain.kv!.phases[phase].dtypes), ["f16"], phase);
  }
  assert(plain.kv!.bytes_per_token > profiled.kv!.bytes_per_token);
});
