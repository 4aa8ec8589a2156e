/**
 * Reads safetensors files: an 8-byte little-endian header length, a JSON header mapping tensor
 * names to {dtype, shape, data_offsets}, then the data section. The header is validated as
 * strictly as the reference Rust implementation does before any tensor is handed out.
 * @module
 */
import type { HostTensor, TensorDtype } from "./spec.ts";
import { numElements, TENSOR_DTYPE_BYTES } from "./tensor_convert.ts";
import { SafetensorsFormatError, SafetensorsOffsetError, UnsupportedDtypeError } from "./errors.ts";

/** Where one tensor lies in the data section (offsets relative to its start). */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: TensorDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A validated header: its tensors in data order and its optional string metadata. */
export interface SafetensorsHeader {
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Bytes before the data section (8 + header length). */
  readonly dataStart: number;
}

/** The tensors of one file, by name, and its metadata. */
export interface SafetensorsContents {
  readonly tensors: Map<string, HostTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

// The reference implementation refuses headers over 100 MB; so do we, before allocating.
const MAX_HEADER_BYTES = 100_000_000;
const READ_CHUNK_BYTES = 16 << 20;

/** Validates the header of a file of `fileSize` bytes whose first bytes are `prefix`. */
export function parseSafetensorsHeader(
  prefix: Uint8Array,
  fileSize: number,
  path: string,
): SafetensorsHeader {
  if (prefix.length < 8 || fileSize < 8) {
    throw new SafetensorsFormatError(
      path,
      `file is ${fileSize} bytes, too short for the 8-byte header length; re-download it`,
    );
  }
  const headerLength = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) {
    throw new SafetensorsFormatError(
      path,
      `header length ${headerLength} exceeds the ${
        fileSize - 8
      } bytes after it; the file is truncated or not safetensors`,
    );
  }
  const dataStart = 8 + Number(headerLength);
  if (prefix.length < dataStart) {
    throw new RangeError(`parseSafetensorsHeader needs the first ${dataStart} bytes of ${path}`);
  }
  const header = decodeHeaderJson(prefix.subarray(8, dataStart), path);
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") metadata = parseMetadata(value, path);
    else entries.push(parseEntry(name, value, path));
  }
  checkOffsets(entries, fileSize - dataStart, path);
  return { entries, metadata, dataStart };
}

/** Parses a whole safetensors file held in memory; tensors view `bytes` without copying. */
export function parseSafetensors(bytes: Uint8Array, path: string): SafetensorsContents {
  const header = parseSafetensorsHeader(bytes, bytes.length, path);
  return toContents(header, bytes.subarray(header.dataStart));
}

/** Reads and validates one safetensors file; `onBytes` hears of each chunk read (header included). */
export async function readSafetensors(
  path: string,
  onBytes?: (numBytes: number) => void,
): Promise<SafetensorsContents> {
  using file = await Deno.open(path, { read: true });
  const fileSize = (await file.stat()).size;
  const lengthBytes = await readExactly(file, Math.min(8, fileSize));
  const headerLength = lengthBytes.length === 8
    ? new DataView(lengthBytes.buffer).getBigUint64(0, true)
    : 0n;
  // Validation of the length itself happens in parseSafetensorsHeader; only read what fits.
  const toRead = headerLength <= BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))
    ? Number(headerLength)
    : 0;
  const prefix = new Uint8Array(8 + toRead);
  prefix.set(lengthBytes);
  prefix.set(await readExactly(file, toRead), lengthBytes.length);
  const header = parseSafetensorsHeader(prefix, fileSize, path);
  onBytes?.(header.dataStart);
  const data = new Uint8Array(fileSize - header.dataStart);
  for (let offset = 0; offset < data.length;) {
    const chunk = data.subarray(offset, Math.min(offset + READ_CHUNK_BYTES, data.length));
    const n = await file.read(chunk);
    if (n === null) {
      throw new SafetensorsFormatError(path, `file ended at byte ${header.dataStart + offset}`);
    }
    offset += n;
    onBytes?.(n);
  }
  return toContents(header, data);
}

function toContents(header: SafetensorsHeader, data: Uint8Array): SafetensorsContents {
  const tensors = new Map<string, HostTensor>();
  for (const e of header.entries) {
    tensors.set(e.name, {
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      bytes: data.subarray(e.begin, e.end),
    });
  }
  return { tensors, metadata: header.metadata };
}

function decodeHeaderJson(bytes: Uint8Array, path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new SafetensorsFormatError(
      path,
      `header is not valid UTF-8 JSON (${(cause as Error).message}); the file is corrupt`,
      { cause },
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new SafetensorsFormatError(path, "header JSON must be an object of tensor entries");
  }
  return parsed as Record<string, unknown>;
}

function parseMetadata(value: unknown, path: string): Record<string, string> {
  const ok = typeof value === "object" && value !== null && !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string");
  if (!ok) throw new SafetensorsFormatError(path, "__metadata__ must map strings to strings");
  return { ...(value as Record<string, string>) };
}

function parseEntry(name: string, value: unknown, path: string): SafetensorsEntry {
  const bad = (what: string) =>
    new SafetensorsFormatError(path, `header entry for tensor ${name} ${what}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad("must be an object with dtype, shape and data_offsets");
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== "string") throw bad("has no dtype string");
  if (!(dtype in TENSOR_DTYPE_BYTES)) {
    throw new UnsupportedDtypeError(
      path,
      `tensor ${name} has dtype ${dtype}; only F32, F16 and BF16 are read: convert the checkpoint (e.g. torch_dtype=float16)`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw bad("has a shape that is not a list of non-negative integers");
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw bad("has data_offsets that are not two non-negative integers");
  }
  return { name, dtype: dtype as TensorDtype, shape, begin: offsets[0], end: offsets[1] };
}

// Like the reference implementation: sizes match, no overlap, no gap, the section fully used.
function checkOffsets(entries: SafetensorsEntry[], dataLength: number, path: string): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  for (const e of sorted) {
    const size = numElements(e.shape) * TENSOR_DTYPE_BYTES[e.dtype];
    if (e.end < e.begin || e.end - e.begin !== size) {
      throw new SafetensorsOffsetError(
        path,
        `tensor ${e.name} spans bytes [${e.begin}, ${e.end}) but ${e.dtype} [${e.shape}] needs ${size}; the header is corrupt`,
      );
    }
    if (e.begin !== expectedBegin) {
      const what = e.begin < expectedBegin ? "overlaps the tensor before it" : "leaves a gap";
      throw new SafetensorsOffsetError(
        path,
        `tensor ${e.name} starts at byte ${e.begin} and ${what} (expected ${expectedBegin}); the header is corrupt`,
      );
    }
    if (e.end > dataLength) {
      throw new SafetensorsOffsetError(
        path,
        `tensor ${e.name} ends at byte ${e.end}, beyond the ${dataLength}-byte data section; the file is truncated`,
      );
    }
    expectedBegin = e.end;
  }
  if (expectedBegin !== dataLength) {
    throw new SafetensorsOffsetError(
      path,
      `tensors cover ${expectedBegin} of the ${dataLength} data bytes; the file has trailing bytes or a corrupt header`,
    );
  }
}

function isCount(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

async function readExactly(file: Deno.FsFile, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let offset = 0; offset < n;) {
    const got = await file.read(out.subarray(offset));
    if (got === null) break;
    offset += got;
  }
  return out;
}
