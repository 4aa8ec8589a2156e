import { assert, assertEquals, assertThrows } from "@std/assert";
import { createCounts, writeCount } from "../src/gpu/dispatch.ts";
import { canRotate, rotatesByDefault, rotationSigns } from "../src/kv/rotation.ts";
import { RotateOp } from "../src/runner/ops/rotate.ts";
import {
  assertClose,
  randomF32,
  readF32,
  runPass,
  storage,
  testGpu,
} from "./helpers/gpu_harness.ts";
import { rotateRows, unrotateRows } from "./reference/hadamard.ts";

Deno.test("rotationSigns() is a fixed ±1 vector of the seed, and only power-of-two heads rotate", () => {
  const s = rotationSigns(128);
  assertEquals(s.length, 128);
  assert(s.every((x) => x === 1 || x === -1));
  const minus = s.filter((x) => x === -1).length;
  assert(minus > 40 && minus < 88, `${minus} of 128 signs are -1`);
  assertEquals([...rotationSigns(128)], [...s]);
  assert([...rotationSigns(128, 1)].some((x, i) => x !== s[i]), "another seed, other signs");
  assertThrows(() => rotationSigns(80), RangeError, "power-of-two");
  assertEquals([8, 32, 80, 128].map(canRotate), [true, true, false, true]);
  assertEquals([8, 16, 32, 64, 96, 128].map(rotatesByDefault), [
    false,
    false,
    true,
    true,
    false,
    true,
  ]);
});

Deno.test("the rotation keeps dot products and unrotateRows undoes it", () => {
  const signs = rotationSigns(64);
  const q = randomF32(64, 1), k = randomF32(64, 2);
  const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);
  const rq = rotateRows(q, signs), rk = rotateRows(k, signs);
  assert(Math.abs(dot(rq, rk) - dot(q, k)) < 1e-4);
  assert(rq.some((x, i) => Math.abs(x - q[i]) > 0.1), "the rotation moves vectors");
  assertClose(unrotateRows(rq, signs), q, 1e-6, 1e-5, "round trip");
});

for (const [headDim, heads, rows] of [[32, 8, 5], [128, 12, 3], [8, 3, 70]]) {
  Deno.test(`RotateOp matches the oracle, forward and inverse (head_dim ${headDim})`, async () => {
    const gpu = await testGpu();
    try {
      const pad = 3; // floats after the heads of each row, which must stay untouched
      const stride = heads * headDim + pad;
      const x = randomF32(rows * stride, headDim + heads, 2);
      const count = createCounts(gpu.device, "count", 1);
      // one row fewer than the buffer holds: the last row must stay untouched
      writeCount(gpu.device, count, 0, rows - 1);
      const signs = rotationSigns(headDim);
      const shape = { headDim, stride, heads };
      for (const inverse of [false, true]) {
        const op = await RotateOp.create(gpu, shape, inverse);
        const buf = storage(gpu, x);
        await runPass(gpu, (pass) => op.encode(pass, { data: buf, count }, rows - 1));
        const got = await readF32(gpu, buf, x.length);
        const want = x.slice();
        for (let r = 0; r < rows - 1; r++) {
          const at = r * stride, n = heads * headDim;
          const row = x.subarray(at, at + n);
          want.set(inverse ? unrotateRows(row, signs) : rotateRows(row, signs), at);
        }
        assertClose(got, want, 1e-6, 1e-5, `${inverse ? "inverse" : "forward"}`);
        op.destroy();
        buf.destroy();
      }
      count.destroy();
    } finally {
      gpu.destroy();
    }
  });
}
