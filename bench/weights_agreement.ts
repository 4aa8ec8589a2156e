/**
 * What quantized weights cost on a real model: greedy decoding of stories260k
 * (../shared/models/stories260k) with int8 and int4 weights against f16 weights, for several
 * group sizes. Reports the weight bytes on the GPU, the share of generated positions whose token
 * equals f16's, and the mean number of tokens before the first difference.
 *
 *   deno run -A bench/weights_agreement.ts [--model DIR] [--tokens N] [--groups 32,64,128] [--json]
 *
 * Prints a markdown table on stdout (with --json, the last line is one JSON array of rows).
 * @module
 */
import { parseArgs } from "node:util";
import { openGpu } from "../src/gpu/device.ts";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import type { WeightsDtype } from "../src/model/weights_dtype.ts";
import { ModelRunner } from "../src/runner/model_runner.ts";
import { generateOne } from "../src/runner/single_sequence.ts";
import { GREEDY } from "../src/runner/types.ts";

const PROMPTS = [
  "Once upon a time",
  "The little dog",
  "Lily and Ben went to the park",
  "Tom had a red ball",
  "One day, a girl named Sue",
  "The sun was hot and",
  "Max the cat liked to",
  "In the big forest there was",
];

/** One weight configuration's agreement with f16 weights. */
export interface AgreementRow {
  weights_dtype: WeightsDtype;
  group: number | null;
  weight_bytes: number;
  /** Generated positions whose token equals f16's, over all prompts. */
  agreement: number;
  /** Mean tokens generated before the first one that differs from f16's. */
  prefix: number;
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: {
        type: "string",
        default: new URL("../../shared/models/stories260k", import.meta.url).pathname,
      },
      tokens: { type: "string", default: "64" },
      groups: { type: "string", default: "32,64,128" },
      json: { type: "boolean", default: false },
    },
  });
  const tokens = Number(values.tokens);
  const groups = values.groups.split(",").map(Number);
  const ckpt = await loadCheckpoint(values.model);
  const tokenizer = await loadTokenizer(values.model);
  const gpu = await openGpu();
  const prompts = PROMPTS.map((p) => tokenizer.encode(p));
  const run = async (dtype: WeightsDtype, group?: number) => {
    const runner = await ModelRunner.create(gpu, ckpt, {
      kvPoolBytes: 1 << 20,
      maxNumSeqs: 1,
      maxRowsPerStep: 32,
      weightsDtype: dtype,
      weightsGroupSize: group,
    });
    try {
      const out: number[][] = [];
      for (const ids of prompts) {
        const r = await generateOne(runner, ids, {
          maxTokens: tokens,
          maxRowsPerStep: 32,
          sampling: GREEDY,
        });
        out.push(r.ids);
      }
      return { out, bytes: runner.weightBytes };
    } finally {
      runner.destroy();
    }
  };
  console.error("f16 weights");
  const base = await run("f16");
  const rows: AgreementRow[] = [{
    weights_dtype: "f16",
    group: null,
    weight_bytes: base.bytes,
    agreement: 1,
    prefix: tokens,
  }];
  for (const dtype of ["int8", "int4"] as const) {
    for (const group of groups) {
      console.error(`${dtype} weights, group ${group}`);
      const q = await run(dtype, group);
      let same = 0;
      let total = 0;
      let prefix = 0;
      q.out.forEach((ids, i) => {
        const ref = base.out[i];
        const n = Math.min(ids.length, ref.length);
        let first = n;
        for (let t = 0; t < n; t++) {
          if (ids[t] === ref[t]) same++;
          else if (first === n) first = t;
        }
        total += Math.max(ids.length, ref.length);
        prefix += first;
      });
      rows.push({
        weights_dtype: dtype,
        group,
        weight_bytes: q.bytes,
        agreement: same / total,
        prefix: prefix / prompts.length,
      });
    }
  }
  gpu.destroy();
  console.log(
    `stories260k, ${prompts.length} prompts x ${tokens} greedy tokens, against f16 weights\n`,
  );
  console.log(
    "| weights | group | weight bytes | token agreement | tokens before first difference |",
  );
  console.log("|---|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.weights_dtype} | ${r.group ?? "-"} | ${r.weight_bytes} | ${
        (100 * r.agreement).toFixed(1)
      }% | ${r.prefix.toFixed(1)} |`,
    );
  }
  if (values.json) console.log(JSON.stringify(rows));
}

if (import.meta.main) await main();
