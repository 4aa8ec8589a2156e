/**
 * Row splitting of matrices larger than one storage binding (the f16 lm_head of a 1.5B model
 * is 467 MB against lavapipe's 128 MiB cap): each part is its own buffer of whole rows.
 * @module
 */
import { createStorage } from "./buffers.ts";

/** Rows [rowStart, rowStart + numRows) of a matrix. */
export interface RowRange {
  readonly rowStart: number;
  readonly numRows: number;
}

/** One part of a row-split matrix on the GPU. */
export interface RowPart extends RowRange {
  /** The values: f16 pairs, or packed integers of a quantized matrix. */
  readonly buffer: GPUBuffer;
  /** f16 pairs of group scales of a quantized matrix. */
  readonly scales?: GPUBuffer;
}

/** How a quantized matrix is stored: `bits`-bit integers, one scale per `group` inputs. */
export interface MatrixQuant {
  readonly bits: 4 | 8;
  readonly group: number;
}

/** A [rows][cols] matrix on the GPU as one or more row ranges, f16 unless `quant` says. */
export interface GpuMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly parts: readonly RowPart[];
  readonly quant?: MatrixQuant;
}

/** Bytes the matrix holds on the GPU, scales included. */
export function matrixBytes(m: GpuMatrix): number {
  return m.parts.reduce((n, p) => n + p.buffer.size + (p.scales?.size ?? 0), 0);
}

/** Destroys every buffer of `m`. */
export function destroyMatrix(m: GpuMatrix): void {
  for (const p of m.parts) {
    p.buffer.destroy();
    p.scales?.destroy();
  }
}

/** Cuts `numRows` rows of `rowBytes` bytes into ranges of at most `maxBytes` bytes each. */
export function splitRows(numRows: number, rowBytes: number, maxBytes: number): RowRange[] {
  const perPart = Math.floor(maxBytes / rowBytes);
  if (perPart < 1) {
    throw new RangeError(`One row of ${rowBytes} bytes exceeds the binding limit of ${maxBytes}`);
  }
  const ranges: RowRange[] = [];
  for (let rowStart = 0; rowStart < numRows; rowStart += perPart) {
    ranges.push({ rowStart, numRows: Math.min(perPart, numRows - rowStart) });
  }
  return ranges;
}

/** Uploads a row-major f16 matrix (bit patterns) as parts no larger than `maxBindingBytes`. */
export function uploadF16Matrix(
  device: GPUDevice,
  label: string,
  bits: Uint16Array,
  rows: number,
  cols: number,
  maxBindingBytes: number,
): GpuMatrix {
  if (bits.length !== rows * cols) {
    throw new RangeError(`${label}: ${bits.length} values for a ${rows}x${cols} matrix`);
  }
  const parts = splitRows(rows, cols * 2, maxBindingBytes).map((r) => ({
    ...r,
    buffer: createStorage(
      device,
      `${label}[${r.rowStart}..]`,
      bits.subarray(r.rowStart * cols, (r.rowStart + r.numRows) * cols),
    ),
  }));
  return { rows, cols, parts };
}
