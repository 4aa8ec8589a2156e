/** kernels/logprobs.wgsl against its oracle in tests/reference/ops.ts. */
import { assertAlmostEquals, assertEquals } from "@std/assert";
import {
  LOGPROB_WORDS,
  LogprobsOp,
  readLogprobs,
  TOP_LOGPROBS,
} from "../src/runner/ops/logprobs.ts";
import {
  counts,
  randomF32,
  readBack,
  runPass,
  storage,
  testGpu,
  zeros,
} from "./helpers/gpu_harness.ts";
import { logprobsRef } from "./reference/ops.ts";

for (const vocab of [7, 300, 5000]) {
  Deno.test(`logprobs.wgsl matches the oracle (vocab ${vocab}, ties included)`, async () => {
    const gpu = await testGpu();
    const rows = 3;
    const logits = randomF32(rows * vocab, 11 + vocab, 4);
    // a tie: the lower id must rank first
    logits[5] = logits[3];
    const tokens = Uint32Array.from({ length: rows }, (_, s) => (s * 37) % vocab);
    const out = zeros(gpu, rows * LOGPROB_WORDS * 4);
    const op = await LogprobsOp.create(gpu, vocab);
    await runPass(gpu, (pass) =>
      op.encode(pass, {
        logits: storage(gpu, logits),
        outTokens: storage(gpu, tokens),
        out,
        count: counts(gpu, rows),
      }, rows));
    const words = await readBack(gpu, out, rows * LOGPROB_WORDS * 4);
    const got = readLogprobs(words, rows);
    for (let s = 0; s < rows; s++) {
      const row = logits.subarray(s * vocab, (s + 1) * vocab);
      const want = logprobsRef(row, tokens[s], TOP_LOGPROBS);
      assertAlmostEquals(got[s].logprob, want.logprob, 1e-4);
      assertEquals(got[s].top.map((t) => t.token), want.top.map((t) => t.token));
      got[s].top.forEach((t, k) => assertAlmostEquals(t.logprob, want.top[k].logprob, 1e-4));
    }
  });
}
