import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { CalibrateUsageError, main } from "../src/cli/calibrate.ts";
import { loadProfile } from "../src/kv/profile.ts";
import { parseCalibrationProfile } from "../src/taqg/profile.ts";
import { makeTinyCheckpoint } from "./helpers/tiny_checkpoint.ts";

/**
 * A tiny checkpoint whose tokenizer has no think markers, so the think-fraction rule splits
 * its generations into think and answer and every configuration of the comparison is built.
 */
async function markerlessCheckpoint(): Promise<string> {
  const dir = await makeTinyCheckpoint({ arch: "qwen2", dtype: "F32", seed: 5 });
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) {
    const path = `${dir}/${file}`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replaceAll("think>", "muse>"));
  }
  return dir;
}

Deno.test("deno task calibrate writes a loadable profile and a report row per configuration", async () => {
  const dir = await markerlessCheckpoint();
  const out = await Deno.makeTempDir({ prefix: "phasekv_calibrate_" });
  try {
    await Deno.writeTextFile(
      `${dir}/prompts.txt`,
      "the cat sat on the mat\nan apple and the tree\n",
    );
    const code = await main([
      "--model",
      dir,
      "--prompts",
      `${dir}/prompts.txt`,
      "--samples",
      "2",
      "--max-tokens",
      "40",
      "--out",
      `${out}/model/phasekv.profile.json`,
    ]);
    assertEquals(code, 0);
    // the server's loader accepts the profile as the model folder's own
    const served = await loadProfile(`${out}/model`);
    assert(served !== null);
    const profile = parseCalibrationProfile(JSON.parse(
      await Deno.readTextFile(`${out}/model/phasekv.profile.json`),
    ));
    assertEquals(profile.measured?.traces, 2);
    assert(profile.measured?.nextTokenKl !== null, "served logits give a next-token KL");
    const report = await Deno.readTextFile(`${out}/model/report.md`);
    const names = [
      "uniform f16",
      "uniform int8",
      "uniform int4",
      "uniform int3",
      "uniform int2",
      "TAQG-aligned",
      "anti-aligned",
      "random blocks",
      "paper per-tensor",
      "searched",
    ];
    for (const name of names) assertStringIncludes(report, `| ${name}`);
    // every phase policy the server can run has a measured next-token KL; the paper's has none
    const table = report.slice(report.indexOf("## Configurations"), report.indexOf("## The paper"));
    const rows = table.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| config"));
    assertEquals(rows.length, names.length);
    for (const row of rows) {
      const nextTokenKl = row.split(" | ")[5];
      assertEquals(nextTokenKl === "n/a", row.startsWith("| paper"), row);
    }
    assertStringIncludes(await Deno.readTextFile(`${out}/model/plot.svg`), "<svg");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("deno task calibrate refuses a bad flag value with a usage error", async () => {
  let caught: unknown = null;
  try {
    await main(["--samples", "0"]);
  } catch (e) {
    caught = e;
  }
  assert(caught instanceof CalibrateUsageError);
  assertStringIncludes((caught as Error).message, "--samples");
});
