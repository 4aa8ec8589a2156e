/**
 * Resident memory of an in-process engine over time, to catch native leaks that the JS heap does
 * not show (reports/accuracy/think_after_answer.md): the default model's held-out problems, 128
 * in flight, greedy, and every 5 s the process's RSS and JS heap in MiB on stdout.
 *
 *   deno run -A bench/memory_probe.ts [--n N] [--think-after D] [--kv-demotion LIST]
 * @module
 */
import { parseArgs } from "node:util";
import { createEngine } from "../src/engine/engine.ts";
import { parseHeldout } from "./accuracy_score.ts";

const MODEL = new URL("../models/phasekv-tiny-reasoner", import.meta.url).pathname;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string" },
      "think-after": { type: "string" },
      "kv-demotion": { type: "string" },
    },
    strict: true,
  });
  const n = Number(values.n ?? 400);
  const problems = parseHeldout(await Deno.readTextFile(`${MODEL}/heldout.jsonl`)).slice(0, n);
  const engine = await createEngine({
    model: MODEL,
    inProcess: true,
    kvCacheMemory: 64 * 2 ** 20,
    maxNumSeqs: 64,
    maxNumBatchedTokens: 1024,
    maxWaiting: 128,
    kvCacheDtypeThinkAfterAnswer: values["think-after"],
    kvDemotion: values["kv-demotion"],
  });
  const start = performance.now();
  let done = 0;
  const sample = () => {
    const m = Deno.memoryUsage();
    const mib = (b: number) => (b / 2 ** 20).toFixed(0);
    const s = ((performance.now() - start) / 1000).toFixed(0);
    console.log(`${s} s: rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} MiB, ${done}/${n} done`);
  };
  const timer = setInterval(sample, 5000);
  let next = 0;
  const lane = async () => {
    while (next < problems.length) {
      const p = problems[next++];
      const promptIds = engine.encode(engine.applyChatTemplate(p.messages));
      const stream = engine.generate({ promptIds, maxTokens: 93, sampling: { temperature: 0 } });
      for await (const _ of stream) { /* drain */ }
      done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: 128 }, lane));
  } finally {
    clearInterval(timer);
    sample();
    await engine.close();
  }
}

if (import.meta.main) await main();
