import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { parseSafetensors, readSafetensors } from "../src/model/safetensors.ts";
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  fromFloat32,
  toF16Bits,
  toFloat32,
} from "../src/model/tensor_convert.ts";
import {
  type CheckpointError,
  SafetensorsFormatError,
  SafetensorsOffsetError,
  UnsupportedDtypeError,
} from "../src/model/errors.ts";
import type { HostTensor, TensorDtype } from "../src/model/spec.ts";
import {
  assembleSafetensors,
  buildSafetensorsParts,
  encodeSafetensors,
  type SafetensorsHeaderEntry,
  writeSafetensors,
} from "./helpers/safetensors_writer.ts";

const f32Words = (...words: number[]) => new Float32Array(new Uint32Array(words).buffer);

Deno.test("f32ToF16Bits() rounds to nearest even and saturates to infinity", () => {
  const values = new Float32Array([
    1,
    -2,
    65504, // largest finite f16
    65520, // halfway to the next binade: rounds up to infinity
    1 + 2 ** -11, // tie between 1 and 1 + 2^-10: even mantissa is 1
    1 + 3 * 2 ** -11, // tie between 1 + 2^-10 and 1 + 2^-9: even is the upper one
    2 ** -24, // smallest subnormal
    2 ** -26, // below half the smallest subnormal: flushes to zero
  ]);
  assertEquals(
    [...f32ToF16Bits(values)],
    [0x3c00, 0xc000, 0x7bff, 0x7c00, 0x3c00, 0x3c02, 0x0001, 0x0000],
  );
  assert(Number.isNaN(f16BitsToF32(f32ToF16Bits(new Float32Array([NaN])))[0]));
});

Deno.test("f32ToBf16Bits() rounds to nearest even and keeps NaN a NaN", () => {
  const values = f32Words(0x3f800000, 0x3f808000, 0x3f818000, 0x3f80ffff, 0x7fc00001, 0xff800000);
  const bits = f32ToBf16Bits(values);
  assertEquals([...bits.slice(0, 4)], [0x3f80, 0x3f80, 0x3f82, 0x3f81]);
  assert(Number.isNaN(bf16BitsToF32(bits.slice(4, 5))[0]));
  assertEquals(bits[5], 0xff80);
});

Deno.test("bf16BitsToF32() is exact and toF16Bits() rounds BF16 once", () => {
  assertEquals([...bf16BitsToF32(new Uint16Array([0x3f80, 0xc040, 0x0001]))], [1, -3, 2 ** -133]);
  // 1 + 2^-7 + 2^-11 + ... : bf16 keeps 7 mantissa bits, f16 keeps 10.
  const bf16: HostTensor = {
    name: "t",
    dtype: "BF16",
    shape: [2],
    bytes: new Uint8Array(new Uint16Array([0x3f81, 0x4780]).buffer),
  };
  assertEquals([...toF16Bits(bf16)], [0x3c08, 0x7c00]); // 1.0078125 exact; 65536 overflows
});

for (const dtype of ["F32", "F16", "BF16"] as TensorDtype[]) {
  Deno.test(`parseSafetensors() round-trips ${dtype} tensors and metadata`, () => {
    // Multiples of 1/8 below 16 are exact in every dtype.
    const a = Float32Array.from({ length: 6 }, (_, i) => (i - 2) / 8);
    const b = Float32Array.from({ length: 3 }, (_, i) => 3 + i * 4);
    const tensors = [fromFloat32("a", [2, 3], a, dtype), fromFloat32("b.bias", [3], b, dtype)];
    const file = parseSafetensors(encodeSafetensors(tensors, { format: "pt" }), "x.safetensors");
    assertEquals(file.metadata, { format: "pt" });
    assertEquals([...file.tensors.keys()], ["a", "b.bias"]);
    const got = file.tensors.get("a")!;
    assertEquals([got.dtype, got.shape], [dtype, [2, 3]]);
    assertEquals([...toFloat32(got)], [...a]);
    assertEquals([...toFloat32(file.tensors.get("b.bias")!)], [...b]);
  });
}

Deno.test("readSafetensors() reads a file in chunks and reports every byte", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const values = Float32Array.from({ length: 1000 }, (_, i) => i);
    await writeSafetensors(`${dir}/m.safetensors`, [fromFloat32("w", [10, 100], values, "F32")]);
    let seen = 0;
    const file = await readSafetensors(`${dir}/m.safetensors`, (n) => seen += n);
    assertEquals(seen, (await Deno.stat(`${dir}/m.safetensors`)).size);
    assertEquals([...toFloat32(file.tensors.get("w")!)], [...values]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// A two-tensor file: "first" F32 [2, 2] at [0, 16), "second" F16 [2] at [16, 20).
Deno.test("readSafetensors() rejects a file cut short on disk", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const values = Float32Array.from({ length: 64 }, (_, i) => i);
    const bytes = encodeSafetensors([fromFloat32("w", [64], values, "F32")]);
    await Deno.writeFile(`${dir}/cut.safetensors`, bytes.subarray(0, bytes.length - 10));
    await assertRejects(
      () => readSafetensors(`${dir}/cut.safetensors`),
      SafetensorsOffsetError,
      "beyond",
    );
    await Deno.writeFile(`${dir}/tiny.safetensors`, bytes.subarray(0, 4));
    await assertRejects(() => readSafetensors(`${dir}/tiny.safetensors`), SafetensorsFormatError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function sample(): { header: Record<string, SafetensorsHeaderEntry>; data: Uint8Array } {
  const t1 = fromFloat32("first", [2, 2], new Float32Array([1, 2, 3, 4]), "F32");
  const t2 = fromFloat32("second", [2], new Float32Array([5, 6]), "F16");
  const { header, data } = buildSafetensorsParts([t1, t2]);
  return { header: header as Record<string, SafetensorsHeaderEntry>, data };
}

function expectError(
  bytes: Uint8Array,
  type: typeof CheckpointError,
  ...fragments: string[]
): void {
  const err = assertThrows(() => parseSafetensors(bytes, "bad.safetensors"));
  assertInstanceOf(err, type);
  assertStringIncludes(err.message, "bad.safetensors");
  for (const f of fragments) assertStringIncludes(err.message, f);
}

Deno.test("parseSafetensors() rejects a file too short for the header length", () => {
  expectError(new Uint8Array(5), SafetensorsFormatError, "5 bytes");
});

Deno.test("parseSafetensors() rejects a header length past the end of the file", () => {
  const { header, data } = sample();
  const bytes = assembleSafetensors(header, data);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
  expectError(bytes, SafetensorsFormatError, "header length");
});

Deno.test("parseSafetensors() rejects a header that is not JSON or not an object", () => {
  expectError(assembleSafetensors("{not json", new Uint8Array()), SafetensorsFormatError, "JSON");
  expectError(assembleSafetensors("[1, 2]", new Uint8Array()), SafetensorsFormatError, "object");
});

Deno.test("parseSafetensors() rejects an entry without a valid shape", () => {
  const { header, data } = sample();
  header.first.shape = [2, -2];
  expectError(assembleSafetensors(header, data), SafetensorsFormatError, "first", "shape");
});

Deno.test("parseSafetensors() rejects a bad __metadata__", () => {
  const { header, data } = sample();
  const bad = JSON.stringify({ ...header, __metadata__: { format: 1 } });
  expectError(assembleSafetensors(bad, data), SafetensorsFormatError, "__metadata__");
});

Deno.test("parseSafetensors() raises UnsupportedDtypeError naming tensor and dtype", () => {
  const { header, data } = sample();
  header.first.dtype = "I64";
  expectError(assembleSafetensors(header, data), UnsupportedDtypeError, "first", "I64");
});

Deno.test("parseSafetensors() rejects offsets whose size disagrees with shape and dtype", () => {
  const { header, data } = sample();
  header.second.shape = [3];
  expectError(assembleSafetensors(header, data), SafetensorsOffsetError, "second", "needs 6");
});

Deno.test("parseSafetensors() rejects overlapping tensors", () => {
  const { header, data } = sample();
  header.second.data_offsets = [14, 18];
  expectError(assembleSafetensors(header, data), SafetensorsOffsetError, "second", "overlaps");
});

Deno.test("parseSafetensors() rejects a tensor beyond the data section (truncated file)", () => {
  const { header, data } = sample();
  expectError(
    assembleSafetensors(header, data.subarray(0, data.length - 2)),
    SafetensorsOffsetError,
    "second",
    "beyond",
  );
});

Deno.test("parseSafetensors() rejects gaps and trailing bytes", () => {
  const { header, data } = sample();
  const padded = new Uint8Array(data.length + 4);
  padded.set(data);
  expectError(assembleSafetensors(header, padded), SafetensorsOffsetError, "trailing");
  header.second.data_offsets = [20, 24];
  expectError(assembleSafetensors(header, padded), SafetensorsOffsetError, "gap");
});
