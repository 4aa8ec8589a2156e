import { assertEquals, assertThrows } from "@std/assert";
import { GPU_PROFILE, type KernelProfile, SOFTWARE_PROFILE } from "../src/gpu/profile.ts";
import { splitRows, uploadF16Matrix } from "../src/gpu/row_split.ts";
import { f32ToF16Bits } from "../src/model/tensor_convert.ts";
import { MatmulOp } from "../src/runner/ops/matmul.ts";
import { HeadNormOp, RmsNormOp } from "../src/runner/ops/rmsnorm.ts";
import { EmbeddingOp } from "../src/runner/ops/embedding.ts";
import { qkvStride, RowKernel } from "../src/runner/ops/elementwise.ts";
import { ropeInvFreq } from "../src/runner/rope_freq.ts";
import { ROW_WORDS } from "../src/runner/step_layout.ts";
import {
  assertClose,
  counts,
  randomF32,
  readF32,
  runPass,
  storage,
  testGpu,
  zeros,
} from "./helpers/gpu_harness.ts";
import { matmulRef, rmsnormRef, ropeRef, roundF16Array, swigluRef } from "./reference/ops.ts";

const PROFILES: KernelProfile[] = [SOFTWARE_PROFILE, GPU_PROFILE];

function rowInfo(rows: { token?: number; position?: number; slot?: number }[]): Uint32Array {
  const out = new Uint32Array(rows.length * ROW_WORDS);
  rows.forEach((r, i) => {
    out[i * ROW_WORDS] = r.token ?? 0xffffffff;
    out[i * ROW_WORDS + 1] = r.position ?? 0;
    out[i * ROW_WORDS + 3] = r.slot ?? 0;
  });
  return out;
}

for (const profile of PROFILES) {
  Deno.test(`MatmulOp (${profile.name}) matches the oracle with bias, residual and ragged N`, async () => {
    const gpu = await testGpu({ profile });
    try {
      // 1 row takes the lone-row path; 6 rows a full and a partial group of 4.
      for (const rows of [1, 6]) {
        const [k, n] = [24, 37];
        const x = randomF32(rows * k, 1);
        const w = roundF16Array(randomF32(n * k, 2));
        const bias = randomF32(n, 3);
        const residual = randomF32(rows * n, 4);
        const matrix = uploadF16Matrix(gpu.device, "w", f32ToF16Bits(w), n, k, gpu.maxBindingBytes);
        const op = await MatmulOp.create(gpu, matrix, {
          outStride: n,
          bias: true,
          accumulate: true,
        });
        const y = storage(gpu, residual);
        await runPass(
          gpu,
          (pass) =>
            op.encode(pass, {
              x: storage(gpu, x),
              y,
              bias: storage(gpu, bias),
              count: counts(gpu, rows),
            }, rows),
        );
        const expected = matmulRef(x, w, k, bias, residual);
        assertClose(await readF32(gpu, y, rows * n), expected, 1e-5, 1e-5, `${rows} rows`);
      }
    } finally {
      gpu.destroy();
    }
  });

  Deno.test(`MatmulOp (${profile.name}) over a weight split by rows equals the unsplit result`, async () => {
    // A 160-byte binding limit holds 2 rows of 80 bytes: 5 parts of a 10x40 f16 weight.
    const gpu = await testGpu({ profile, maxBindingBytes: 160 });
    try {
      const [rows, k, n] = [3, 40, 10];
      const x = randomF32(rows * k, 5);
      const w = roundF16Array(randomF32(n * k, 6));
      const matrix = uploadF16Matrix(gpu.device, "w", f32ToF16Bits(w), n, k, gpu.maxBindingBytes);
      assertEquals(matrix.parts.length, 5);
      const op = await MatmulOp.create(gpu, matrix, { outStride: n });
      const y = zeros(gpu, rows * n * 4);
      await runPass(
        gpu,
        (pass) => op.encode(pass, { x: storage(gpu, x), y, count: counts(gpu, rows) }, rows),
      );
      assertClose(await readF32(gpu, y, rows * n), matmulRef(x, w, k), 1e-5, 1e-5);
    } finally {
      gpu.destroy();
    }
  });

  Deno.test(`RmsNormOp and HeadNormOp (${profile.name}) match the oracle`, async () => {
    const gpu = await testGpu({ profile });
    try {
      const [rows, dim] = [3, 40];
      const x = randomF32(rows * dim, 7, 3);
      const w = randomF32(dim, 8);
      const op = await RmsNormOp.create(gpu, dim, 1e-5, true);
      const out = zeros(gpu, rows * dim * 4);
      // Gathered: output row r is the norm of input row 2 - r.
      const gather = storage(gpu, new Uint32Array([2, 1, 0]));
      await runPass(
        gpu,
        (pass) =>
          op.encode(pass, {
            x: storage(gpu, x),
            w: storage(gpu, w),
            out,
            gather,
            count: counts(gpu, rows),
          }, rows),
      );
      const ref = rmsnormRef(x, w, 1e-5);
      const reversed = new Float32Array(rows * dim);
      for (let r = 0; r < rows; r++) {
        reversed.set(ref.subarray((2 - r) * dim, (3 - r) * dim), r * dim);
      }
      assertClose(await readF32(gpu, out, rows * dim), reversed, 1e-5, 1e-5);

      // In place over 2 heads of 8 starting at float 4 of 24-float rows.
      const buf = randomF32(rows * 24, 9);
      const hw = randomF32(8, 10);
      const head = await HeadNormOp.create(gpu, {
        dim: 8,
        groups: 2,
        stride: 24,
        base: 4,
        eps: 1e-6,
      });
      const gbuf = storage(gpu, buf);
      await runPass(
        gpu,
        (pass) =>
          head.encode(pass, { x: gbuf, w: storage(gpu, hw), count: counts(gpu, rows * 2) }, rows),
      );
      const expected = buf.slice();
      for (let r = 0; r < rows; r++) {
        for (let g = 0; g < 2; g++) {
          const at = r * 24 + 4 + g * 8;
          expected.set(rmsnormRef(buf.subarray(at, at + 8), hw, 1e-6), at);
        }
      }
      assertClose(await readF32(gpu, gbuf, rows * 24), expected, 1e-5, 1e-5);
    } finally {
      gpu.destroy();
    }
  });
}

Deno.test("RowKernel.rope matches the oracle per row position on q and k heads only", async () => {
  const gpu = await testGpu();
  try {
    const shape = { numHeads: 4, numKvHeads: 2, headDim: 16, qkvStride: qkvStride(4, 2, 16) };
    const positions = [0, 5, 300];
    const qkv = randomF32(positions.length * shape.qkvStride, 11);
    const op = await RowKernel.rope(gpu, shape);
    const buf = storage(gpu, qkv);
    const rows = storage(gpu, rowInfo(positions.map((position) => ({ position }))));
    const freq = storage(gpu, ropeInvFreq(16, 10000));
    await runPass(
      gpu,
      (pass) => op.encode(pass, { qkv: buf, invFreq: freq, rows, count: counts(gpu, 3) }, 3),
    );
    const expected = qkv.slice();
    positions.forEach((p, r) => {
      const at = r * shape.qkvStride;
      expected.set(ropeRef(qkv.subarray(at, at + 6 * 16), 16, p, 10000), at);
    });
    // Angles up to 300 rad in f32: a few 1e-5 of phase error.
    assertClose(await readF32(gpu, buf, qkv.length), expected, 1e-4);
  } finally {
    gpu.destroy();
  }
});

Deno.test("RowKernel.swiglu matches the oracle", async () => {
  const gpu = await testGpu();
  try {
    const [rows, inter] = [3, 13];
    const gu = randomF32(rows * 2 * inter, 12, 4);
    const op = await RowKernel.swiglu(gpu, inter);
    const out = zeros(gpu, rows * inter * 4);
    await runPass(
      gpu,
      (pass) => op.encode(pass, { gateUp: storage(gpu, gu), out, count: counts(gpu, rows) }, rows),
    );
    assertClose(await readF32(gpu, out, rows * inter), swigluRef(gu, inter), 1e-5, 1e-5);
  } finally {
    gpu.destroy();
  }
});

Deno.test("EmbeddingOp gathers host tokens and slot tokens across a row-split table", async () => {
  const gpu = await testGpu({ maxBindingBytes: 48 });
  try {
    const [vocab, hidden] = [7, 6];
    const table = roundF16Array(randomF32(vocab * hidden, 13));
    const matrix = uploadF16Matrix(gpu.device, "embed", f32ToF16Bits(table), vocab, hidden, 48);
    assertEquals(matrix.parts.length, 2);
    const op = await EmbeddingOp.create(gpu, matrix);
    const rows = storage(gpu, rowInfo([{ token: 6 }, { slot: 1 }, { token: 0 }]));
    const lastToken = storage(gpu, new Uint32Array([3, 5]));
    const out = zeros(gpu, 3 * hidden * 4);
    await runPass(
      gpu,
      (pass) => op.encode(pass, { rows, lastToken, out, count: counts(gpu, 3) }, 3),
    );
    const expected = [6, 5, 0].flatMap((t) => [...table.subarray(t * hidden, (t + 1) * hidden)]);
    assertClose(await readF32(gpu, out, 3 * hidden), expected, 0);
  } finally {
    gpu.destroy();
  }
});

Deno.test("splitRows cuts at the binding limit and rejects a row larger than it", () => {
  assertEquals(splitRows(5, 10, 25), [
    { rowStart: 0, numRows: 2 },
    { rowStart: 2, numRows: 2 },
    { rowStart: 4, numRows: 1 },
  ]);
  assertThrows(() => splitRows(5, 30, 25), RangeError);
});
