// kv_decode.wgsl: reads one element of a quantized KV block (layouts: src/kv/layout.ts).
//
// A library, not a kernel: the including kernel declares
//   var<storage, read> kv_pool: array<u32>   (or read_write)  - one layer's KV pool
//   override NUM_KV_HEADS: u32; override BLOCK_SIZE: u32; override HEAD_DIM: u32;
// and calls kv_k_quant / kv_v_quant with word_off = block byte offset / 4 and the block's dtype
// id (src/kv/dtype.ts); f16 blocks (id 0) are read by the caller. The branch on dtype is
// uniform per block, so it costs no divergence.

// Channels per value group (V_GROUP in src/kv/layout.ts).
const KV_V_GROUP: u32 = 32u;

// A dtype id is its family code * 16 + its (K) bits (KV_FAMILY_CODES in src/kv/dtype.ts); the
// narrow-V vec code stores V one bit narrower than K (KV_FAMILY_VEC_NARROW_V).
const KV_FAMILY_FP8: u32 = 1u;
const KV_FAMILY_INT: u32 = 2u;
const KV_FAMILY_VEC: u32 = 3u;
const KV_FAMILY_VEC_NARROW_V: u32 = 4u;
const KV_FAMILY_SYM: u32 = 5u;
const KV_FAMILY_ZP: u32 = 6u;

fn kv_k_quant(word_off: u32, dtype: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let bits = dtype & 15u;
  switch dtype >> 4u {
    case KV_FAMILY_FP8: { return kv_fp8_k(word_off, kvh, t, d); }
    case KV_FAMILY_INT: { return kv_int_k(word_off, bits, kvh, t, d); }
    case KV_FAMILY_VEC: { return kv_vec_k(word_off, bits, bits, kvh, t, d); }
    case KV_FAMILY_VEC_NARROW_V: { return kv_vec_k(word_off, bits, bits - 1u, kvh, t, d); }
    case KV_FAMILY_SYM: { return kv_sym_k(word_off, bits, kvh, t, d); }
    case KV_FAMILY_ZP: { return kv_zp_k(word_off, bits, kvh, t, d); }
    default: { return 0.0; }
  }
}

fn kv_v_quant(word_off: u32, dtype: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let bits = dtype & 15u;
  switch dtype >> 4u {
    case KV_FAMILY_FP8: { return kv_fp8_v(word_off, kvh, t, d); }
    case KV_FAMILY_INT: { return kv_int_v(word_off, bits, kvh, t, d); }
    case KV_FAMILY_VEC: { return kv_vec_v(word_off, bits, bits, kvh, t, d); }
    case KV_FAMILY_VEC_NARROW_V: { return kv_vec_v(word_off, bits, bits - 1u, kvh, t, d); }
    case KV_FAMILY_SYM: { return kv_sym_v(word_off, bits, kvh, t, d); }
    case KV_FAMILY_ZP: { return kv_zp_v(word_off, bits, kvh, t, d); }
    default: { return 0.0; }
  }
}

// shapes

fn kv_elems() -> u32 {
  return NUM_KV_HEADS * BLOCK_SIZE * HEAD_DIM;
}

// Index of (kvh, t, d) in [NUM_KV_HEADS][BLOCK_SIZE][HEAD_DIM].
fn kv_at(kvh: u32, t: u32, d: u32) -> u32 {
  return (kvh * BLOCK_SIZE + t) * HEAD_DIM + d;
}

fn kv_v_group() -> u32 {
  return min(KV_V_GROUP, HEAD_DIM);
}

fn kv_v_groups_per_token() -> u32 {
  return (HEAD_DIM + kv_v_group() - 1u) / kv_v_group();
}

// int b: K codes, V codes (bitstreams), K params, V params; a param is (f16 scale, f16 min)

fn kv_int_code_words(bits: u32) -> u32 {
  return (kv_elems() * bits + 31u) / 32u;
}

fn kv_int_k_params(bits: u32) -> u32 {
  return 2u * kv_int_code_words(bits);
}

fn kv_int_v_params(bits: u32) -> u32 {
  return kv_int_k_params(bits) + NUM_KV_HEADS * HEAD_DIM;
}

// Keys are grouped per channel across tokens, so a group's codes are contiguous.
fn kv_int_k_index(kvh: u32, t: u32, d: u32) -> u32 {
  return (kvh * HEAD_DIM + d) * BLOCK_SIZE + t;
}

fn kv_int_v_param_index(kvh: u32, t: u32, d: u32) -> u32 {
  return (kvh * BLOCK_SIZE + t) * kv_v_groups_per_token() + d / kv_v_group();
}

// Code `index` of a little-endian bitstream of `bits`-bit codes starting at word `base`.
fn kv_read_bits(base: u32, index: u32, bits: u32) -> u32 {
  let pos = index * bits;
  let w = base + (pos >> 5u);
  let s = pos & 31u;
  var v = kv_pool[w] >> s;
  if (s + bits > 32u) {
    v = v | (kv_pool[w + 1u] << (32u - s));
  }
  return v & ((1u << bits) - 1u);
}

fn kv_dequant(param: u32, q: u32) -> f32 {
  let scale_min = unpack2x16float(param);
  return f32(q) * scale_min.x + scale_min.y;
}

fn kv_int_k(word_off: u32, bits: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let q = kv_read_bits(word_off, kv_int_k_index(kvh, t, d), bits);
  return kv_dequant(kv_pool[word_off + kv_int_k_params(bits) + kvh * HEAD_DIM + d], q);
}

fn kv_int_v(word_off: u32, bits: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let q = kv_read_bits(word_off + kv_int_code_words(bits), kv_at(kvh, t, d), bits);
  return kv_dequant(kv_pool[word_off + kv_int_v_params(bits) + kv_int_v_param_index(kvh, t, d)], q);
}

// vec: K codes (k_bits each), V codes (v_bits each; bitstreams in [h][t][d] order), K params,
// V params; one (f16 scale, f16 min) word per head vector

fn kv_vec_k_params(k_bits: u32, v_bits: u32) -> u32 {
  return kv_int_code_words(k_bits) + kv_int_code_words(v_bits);
}

fn kv_vec_v_params(k_bits: u32, v_bits: u32) -> u32 {
  return kv_vec_k_params(k_bits, v_bits) + NUM_KV_HEADS * BLOCK_SIZE;
}

fn kv_vec_k(word_off: u32, k_bits: u32, v_bits: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let q = kv_read_bits(word_off, kv_at(kvh, t, d), k_bits);
  let param = kv_pool[word_off + kv_vec_k_params(k_bits, v_bits) + kvh * BLOCK_SIZE + t];
  return kv_dequant(param, q);
}

fn kv_vec_v(word_off: u32, k_bits: u32, v_bits: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let q = kv_read_bits(word_off + kv_int_code_words(k_bits), kv_at(kvh, t, d), v_bits);
  let param = kv_pool[word_off + kv_vec_v_params(k_bits, v_bits) + kvh * BLOCK_SIZE + t];
  return kv_dequant(param, q);
}

// sym: K codes, V codes (as vec), then one word per head vector pair: (K scale, V scale) as
// f16; an element is (code - (2^b - 1) / 2) * scale, exact in f32

fn kv_sym_params(bits: u32) -> u32 {
  return 2u * kv_int_code_words(bits);
}

fn kv_sym_half(bits: u32) -> f32 {
  return f32((1u << bits) - 1u) * 0.5;
}

fn kv_sym_scales(word_off: u32, bits: u32, kvh: u32, t: u32) -> vec2<f32> {
  return unpack2x16float(kv_pool[word_off + kv_sym_params(bits) + kvh * BLOCK_SIZE + t]);
}

fn kv_sym_k(word_off: u32, bits: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let q = kv_read_bits(word_off, kv_at(kvh, t, d), bits);
  return (f32(q) - kv_sym_half(bits)) * kv_sym_scales(word_off, bits, kvh, t).x;
}

fn kv_sym_v(word_off: u32, bits: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let q = kv_read_bits(word_off + kv_int_code_words(bits), kv_at(kvh, t, d), bits);
  return (f32(q) - kv_sym_half(bits)) * kv_sym_scales(word_off, bits, kvh, t).y;
}

// zp: sym's layout, then one byte per head vector pair (four to a word): the K vector's
// integer zero point in the low nibble, the V vector's in the high one; an element is
// (code - zero point) * scale, exact in f32

fn kv_zp_point(word_off: u32, bits: u32, kvh: u32, t: u32, is_v: bool) -> f32 {
  let row = kvh * BLOCK_SIZE + t;
  let at = word_off + kv_sym_params(bits) + NUM_KV_HEADS * BLOCK_SIZE + (row >> 2u);
  let byte = (kv_pool[at] >> (8u * (row & 3u))) & 0xffu;
  return f32(select(byte & 15u, byte >> 4u, is_v));
}

fn kv_zp_k(word_off: u32, bits: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let q = kv_read_bits(word_off, kv_at(kvh, t, d), bits);
  let z = kv_zp_point(word_off, bits, kvh, t, false);
  return (f32(q) - z) * kv_sym_scales(word_off, bits, kvh, t).x;
}

fn kv_zp_v(word_off: u32, bits: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let q = kv_read_bits(word_off + kv_int_code_words(bits), kv_at(kvh, t, d), bits);
  let z = kv_zp_point(word_off, bits, kvh, t, true);
  return (f32(q) - z) * kv_sym_scales(word_off, bits, kvh, t).y;
}

// fp8 (OCP e4m3): K bytes, V bytes, then per head one word of (K scale, V scale)

fn kv_fp8_code_words() -> u32 {
  return (kv_elems() + 3u) / 4u;
}

fn kv_fp8_scales(word_off: u32, kvh: u32) -> vec2<f32> {
  return unpack2x16float(kv_pool[word_off + 2u * kv_fp8_code_words() + kvh]);
}

// Exact: the power of two is built from its bits (exp2 need not be exact).
fn kv_e4m3_decode(code: u32) -> f32 {
  let e = (code >> 3u) & 15u;
  let m = code & 7u;
  var mag = f32(m) * (1.0 / 512.0);
  if (e != 0u) {
    mag = f32(8u + m) * bitcast<f32>((e + 117u) << 23u);
  }
  return select(mag, -mag, (code & 0x80u) != 0u);
}

fn kv_fp8_byte(base: u32, i: u32) -> u32 {
  return (kv_pool[base + (i >> 2u)] >> (8u * (i & 3u))) & 0xffu;
}

fn kv_fp8_k(word_off: u32, kvh: u32, t: u32, d: u32) -> f32 {
  return kv_e4m3_decode(kv_fp8_byte(word_off, kv_at(kvh, t, d))) * kv_fp8_scales(word_off, kvh).x;
}

fn kv_fp8_v(word_off: u32, kvh: u32, t: u32, d: u32) -> f32 {
  let code = kv_fp8_byte(word_off + kv_fp8_code_words(), kv_at(kvh, t, d));
  return kv_e4m3_decode(code) * kv_fp8_scales(word_off, kvh).y;
}
