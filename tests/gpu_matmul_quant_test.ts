import { assert, assertEquals } from "@std/assert";
import type { Gpu } from "../src/gpu/device.ts";
import { GPU_PROFILE, type KernelProfile, SOFTWARE_PROFILE } from "../src/gpu/profile.ts";
import { type GpuMatrix, uploadF16Matrix } from "../src/gpu/row_split.ts";
import { f32ToF16Bits } from "../src/model/tensor_convert.ts";
import { MatmulOp, type MatmulVariant, scaleWords } from "../src/runner/ops/matmul.ts";
import { quantizeMatrix, quantRowWords } from "../src/runner/ops/quantize_weights.ts";
import {
  assertClose,
  counts,
  randomF32,
  readF32,
  readU32,
  runPass,
  storage,
  testGpu,
} from "./helpers/gpu_harness.ts";
import { matmulRef, roundF16Array } from "./reference/ops.ts";
import { dequantizeRef, quantizeRef, unpackCodes } from "./reference/weights_quant.ts";

const PROFILES: KernelProfile[] = [SOFTWARE_PROFILE, GPU_PROFILE];

function upload(gpu: Gpu, w: Float32Array, n: number, k: number): GpuMatrix {
  return uploadF16Matrix(gpu.device, "w", f32ToF16Bits(w), n, k, gpu.maxBindingBytes);
}

for (const bits of [8, 4] as const) {
  Deno.test(`quantize_weights int${bits} matches the oracle (ragged last group, split rows)`, async () => {
    // 44 inputs in groups of 32: one full and one short group; K % 8 = 4 leaves a half int4 word.
    // 200-byte parts hold 2 rows of 88 bytes: 4 parts of 7 rows.
    const gpu = await testGpu({ maxBindingBytes: 200 });
    try {
      const [n, k, group] = [7, 44, 32];
      const w = roundF16Array(randomF32(n * k, 11, 2));
      w.fill(0, 2 * k, 3 * k); // an all-zero row: scale 0, codes 0
      const m = await quantizeMatrix(gpu, upload(gpu, w, n, k), bits, group);
      assertEquals(m.parts.length, 4);
      const ref = quantizeRef(w, k, bits, group);
      const codes = new Int8Array(n * k);
      const scales = new Float32Array(n * ref.groups);
      const sw = scaleWords(k, group);
      for (const p of m.parts) {
        const words = await readU32(gpu, p.buffer, p.numRows * quantRowWords(k, bits));
        codes.set(unpackCodes(words, p.numRows, k, bits), p.rowStart * k);
        const sWords = await readU32(gpu, p.scales!, p.numRows * sw);
        const sHalf = new Float32Array(new Float16Array(sWords.buffer, 0, p.numRows * sw * 2));
        for (let r = 0; r < p.numRows; r++) {
          for (let g = 0; g < ref.groups; g++) {
            scales[(p.rowStart + r) * ref.groups + g] = sHalf[r * sw * 2 + g];
          }
        }
      }
      assertEquals([...scales], [...ref.scales]);
      // GPU division may differ from the host's in the last bit: a code may then sit one step
      // off, but only where w / scale is within rounding of a half.
      for (let i = 0; i < codes.length; i++) {
        if (codes[i] === ref.q[i]) continue;
        const s = ref.scales[Math.floor(i / k) * ref.groups + Math.floor((i % k) / group)];
        const t = w[i] / s;
        assert(
          Math.abs(codes[i] - ref.q[i]) === 1 && Math.abs(Math.abs(t % 1) - 0.5) < 1e-4,
          `code ${i}: ${codes[i]} vs ${ref.q[i]} (w/s = ${t})`,
        );
      }
      assert(codes.some((c) => c < 0) && codes.some((c) => c > 0));
    } finally {
      gpu.destroy();
    }
  });

  for (const profile of PROFILES) {
    Deno.test(`MatmulOp int${bits} (${profile.name}) matches the oracle of the dequantized weight`, async () => {
      const gpu = await testGpu({ profile });
      try {
        for (const rows of [1, 6]) {
          const [k, n, group] = [44, 37, 32];
          const x = randomF32(rows * k, 12);
          const w = roundF16Array(randomF32(n * k, 13));
          const bias = randomF32(n, 14);
          const residual = randomF32(rows * n, 15);
          const m = await quantizeMatrix(gpu, upload(gpu, w, n, k), bits, group);
          const op = await MatmulOp.create(gpu, m, { outStride: n, bias: true, accumulate: true });
          const y = storage(gpu, residual);
          await runPass(gpu, (pass) =>
            op.encode(pass, {
              x: storage(gpu, x),
              y,
              bias: storage(gpu, bias),
              count: counts(gpu, rows),
            }, rows));
          const wq = dequantizeRef(quantizeRef(w, k, bits, group), k, group);
          const expected = matmulRef(x, wq, k, bias, residual);
          // Codes one step off (see the quantize test) move a dot product by |x| * scale at most.
          const tol = bits === 8 ? 2e-3 : 2e-2;
          assertClose(await readF32(gpu, y, rows * n), expected, tol, 1e-5, `${rows} rows`);
          // And the quantization error itself is bounded: int8 is close to the f16 result.
          if (bits === 8) {
            assertClose(
              await readF32(gpu, y, rows * n),
              matmulRef(x, w, k, bias, residual),
              0.05,
              0.02,
            );
          }
        }
      } finally {
        gpu.destroy();
      }
    });
  }
}

Deno.test("the subgroup matmul matches the oracle where the adapter has subgroups", async (t) => {
  const gpu = await testGpu({ profile: GPU_PROFILE });
  try {
    if (!gpu.hasSubgroups) {
      // lavapipe under Deno has no subgroups: creating the variant must refuse, not miscompile.
      const m = upload(gpu, new Float32Array(16), 4, 4);
      let refused = false;
      try {
        await MatmulOp.create(gpu, m, { outStride: 4 }, "subgroup");
      } catch (e) {
        refused = e instanceof RangeError;
      }
      assert(refused, "the subgroup variant was created without the feature");
      return;
    }
    for (const variant of ["subgroup", "tile"] as MatmulVariant[]) {
      await t.step(variant, async () => {
        const [rows, k, n] = [6, 96, 37];
        const x = randomF32(rows * k, 16);
        const w = roundF16Array(randomF32(n * k, 17));
        const op = await MatmulOp.create(gpu, upload(gpu, w, n, k), { outStride: n }, variant);
        const y = storage(gpu, new Float32Array(rows * n));
        await runPass(
          gpu,
          (pass) => op.encode(pass, { x: storage(gpu, x), y, count: counts(gpu, rows) }, rows),
        );
        assertClose(await readF32(gpu, y, rows * n), matmulRef(x, w, k), 1e-5, 1e-5);
      });
    }
  } finally {
    gpu.destroy();
  }
});
