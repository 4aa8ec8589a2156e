import { assertEquals } from "@std/assert";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { generateOne } from "../src/runner/single_sequence.ts";
import { GREEDY } from "../src/runner/types.ts";
import { testGpu } from "./helpers/gpu_harness.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";
import { ReferenceModel } from "./reference/forward.ts";

const PROMPT = [5, 6, 7, 8, 9, 10, 11];

Deno.test("generateOne prefills in row-budget chunks, stops at a stop id and keeps it", async () => {
  const dir = await makeTinyCheckpoint({ arch: "qwen2", seed: 11, withTokenizer: false });
  const gpu = await testGpu();
  try {
    const ckpt = await loadCheckpoint(dir);
    const expected = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true })
      .generateGreedy(PROMPT, 20);
    const runner = await ModelRunner.create(gpu, ckpt, {
      blockSize: 4,
      kvPoolBytes: 64 * 1024,
      maxNumSeqs: 1,
      maxRowsPerStep: 3,
    });
    try {
      const full = await generateOne(runner, PROMPT, {
        maxTokens: 20,
        maxRowsPerStep: 3,
        sampling: GREEDY,
      });
      assertEquals(full.ids, expected);
      const stopAt = expected.indexOf(expected[5]);
      const cut = await generateOne(runner, PROMPT, {
        maxTokens: 20,
        maxRowsPerStep: 3,
        sampling: GREEDY,
        stopIds: [expected[5]],
      });
      assertEquals(cut.ids, expected.slice(0, stopAt + 1));
    } finally {
      runner.destroy();
    }
  } finally {
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task generate --json prints the reference's greedy ids and their text last", async () => {
  const dir = await makeTinyCheckpoint({ arch: "llama", seed: 5 });
  try {
    const ckpt = await loadCheckpoint(dir);
    const expected = ReferenceModel.fromCheckpoint(ckpt, { f16Weights: true, f16Kv: true })
      .generateGreedy(PROMPT, 12)
      .filter((_, i, all) => !all.slice(0, i).some((t) => ckpt.spec.eosTokenIds.includes(t)));
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../src/cli/generate.ts", import.meta.url).pathname,
        "--model",
        dir,
        "--prompt-ids",
        PROMPT.join(","),
        "--max-tokens",
        "12",
        "--json",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    const json = JSON.parse(lines[lines.length - 1]);
    assertEquals(json.prompt_ids, PROMPT);
    assertEquals(json.ids, expected);
    assertEquals(typeof json.text, "string");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
