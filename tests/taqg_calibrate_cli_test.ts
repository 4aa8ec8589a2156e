import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { main } from "../src/cli/calibrate.ts";
import { loadProfile } from "../src/kv/profile.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";

const hasGpu = await (async () => {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
})();

/** A tiny checkpoint whose tokenizer has no think markers: the think-fraction rule splits it. */
async function markerlessCheckpoint(): Promise<string> {
  const dir = await makeTinyCheckpoint({ arch: "qwen2", dtype: "F32", seed: 5 });
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) {
    const path = `${dir}/${file}`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replaceAll("think>", "muse>"));
  }
  return dir;
}

const COMMON = [
  "--dtypes",
  "int4,int2",
  "--max-tokens",
  "24",
  "--kv-recent-tokens",
  "4",
  "--block-size",
  "8",
  "--probe-traces",
  "1",
];

Deno.test({
  name:
    "deno task calibrate --eval writes a loadable profile, a validated report and a Pareto plot",
  ignore: !hasGpu,
  fn: async () => {
    const dir = await markerlessCheckpoint();
    const out = await Deno.makeTempDir({ prefix: "phasekv_calibrate_" });
    try {
      const problems = ["the cat", "a dog", "the sun", "an apple", "the tree", "a bird"].map((q) =>
        JSON.stringify({ messages: [{ role: "user", content: q }], answer: "x", completion: "x" })
      );
      await Deno.writeTextFile(`${dir}/eval.jsonl`, problems.join("\n") + "\n");
      const args = ["--model", dir, "--eval", `${dir}/eval.jsonl`, "--calibration-n", "3"];
      assertEquals(
        await main([...args, ...COMMON, "--batch", "3", "--out", `${out}/m/phasekv.profile.json`]),
        0,
      );
      const profile = await loadProfile(`${out}/m`);
      assert(profile !== null, "the server's loader accepts the profile");
      assertEquals([profile.recent_tokens, profile.block_size], [4, 8]);
      // the demotion floors parse as --kv-demotion does (the loader checks them)
      assert(typeof profile.demotion === "string");
      const report = await Deno.readTextFile(`${out}/m/report.md`);
      for (
        const text of [
          "## Sensitivity, measured per phase",
          "| think int2 alone |",
          "| uniform int4 |",
          "random control",
          "Key redundancy ρ",
          "## Validation on the test part (n=3",
          "McNemar",
          "## Pareto plot",
          "Demotion under memory pressure",
        ]
      ) assertStringIncludes(report, text);
      assert(!report.includes("proxies only"));
      const svg = await Deno.readTextFile(`${out}/m/plot.svg`);
      assertEquals(svg.match(/<g class="panel">/g)?.length, 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "deno task calibrate without an eval set says the profile rests on proxies only",
  ignore: !hasGpu,
  fn: async () => {
    const dir = await markerlessCheckpoint();
    const out = await Deno.makeTempDir({ prefix: "phasekv_calibrate_" });
    try {
      await Deno.writeTextFile(
        `${dir}/prompts.txt`,
        "the cat sat on the mat\nan apple and the tree\n",
      );
      const args = ["--model", dir, "--prompts", `${dir}/prompts.txt`, "--samples", "2", ...COMMON];
      assertEquals(
        await main([...args, "--probe-traces", "0", "--out", `${out}/phasekv.profile.json`]),
        0,
      );
      assertStringIncludes(await Deno.readTextFile(`${out}/report.md`), "rests on proxies only");
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("deno task calibrate: --help prints the flags; a bad value exits 2 naming the flag", async () => {
  assertEquals(await main(["--help"]), 0);
  assertEquals(await main(["--samples", "0"]), 2);
  assertEquals(await main(["--dtypes", "int4,bogus"]), 2);
});
