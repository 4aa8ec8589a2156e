// f16 KV element loads for attention (dtype 0; quantized dtypes are decoded by kv_k_quant /
// kv_v_quant of kv_decode.wgsl). A library file (no bindings, no overrides): the including
// kernel declares the `kv_pool` binding and the NUM_KV_HEADS, BLOCK_SIZE and HEAD_DIM overrides.
// f16 block layout: K section then V section, each [NUM_KV_HEADS][BLOCK_SIZE][HEAD_DIM]
// halves, two per u32 (element 2i low, 2i+1 high); `word_off` is the block's first u32.

// Element (kvh, t, d) of the section starting at `word_off`.
fn kv_f16(word_off: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let e = (kvh * BLOCK_SIZE + t) * HEAD_DIM + d;
  return unpack2x16float(kv_pool[word_off + e / 2u])[e & 1u];
}

// Elements d and d + 1 (d even) of an f16 block's K (v_section false) or V, from one word.
fn kv_f16_pair(word_off: u32, v_section: bool, kvh: u32, t: u32, d: u32) -> vec2<f32> {
  let base = select(word_off, word_off + NUM_KV_HEADS * BLOCK_SIZE * HEAD_DIM / 2u, v_section);
  return unpack2x16float(kv_pool[base + ((kvh * BLOCK_SIZE + t) * HEAD_DIM + d) / 2u]);
}
