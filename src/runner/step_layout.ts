/**
 * The host-side layout of the per-step buffers the kernels read (rows, sequences, block table),
 * kept in one place so the WGSL constants (ROW_WORDS, SEQ_WORDS) have one TypeScript twin.
 * @module
 */

/** u32 words per step row: token, position, seq index, slot, kv block word, index in block. */
export const ROW_WORDS = 8;
/** u32 words per step sequence: first block-table entry, number of blocks, slot. */
export const SEQ_WORDS = 4;
/** Token word of a row whose token comes from its slot's last sample on the GPU. */
export const NULL_TOKEN = 0xffffffff;
/**
 * u32 words per block-table entry: block word offset, dtype id, tokens held, cache position of
 * the block's first token. Blocks closed at a phase change hold fewer than blockSize tokens, so
 * positions are mapped to blocks through that running sum of `tokens` (attention searches it),
 * never by division.
 */
export const TABLE_WORDS = 4;
