// kv_lanes.wgsl: one lane's DPL channels [d0, d0 + DPL) of token t of a quantized block, for
// the attention kernel (layouts: src/kv/layout.ts; loaded after kv_decode.wgsl, whose offset
// helpers and element decoders it shares).
//
// A library: the including kernel declares, beside what kv_decode.wgsl needs,
//   override DPL: u32                    - channels per lane
//   var<private> kv: array<f32, N>       - where a decoder leaves the lane's values (N >= DPL)
// and reaches these through the host-generated kv_lanes_quant (src/runner/ops/attention.ts),
// which calls a family's decoder (the registry's `wgsl.lanes`) with the dtype's K and V bits as
// constants, so that after inlining every shift, mask and branch below is fixed per dtype.
//
// Each decoder reads a param word once per token (or, for KIVI keys, once per block) and each
// code word once, extracting every code it holds, where the bits allow it: codes of 2, 4 or 8
// bits (dividing 32) whose lane run starts on a word and fills whole words. Otherwise (3 bits,
// or a DPL whose run is not whole words) the run is read funnel-shifted to start on a word
// (KIVI keys: code by code through kv_read_bits).
// A decoder returns (scale, min) and leaves kv[i] such that channel i is scale * kv[i] + min:
// where one (scale, min) covers the lane's channels (vec; KIVI values when the lane's channels
// lie in one group; fp8's scale) kv[i] is the bare code, and the attention kernel applies the
// pair once per dot product; otherwise kv[i] is the value, f32(code) * scale + min as in
// kv_k_quant / kv_v_quant, and the pair is (1, 0). Every loop runs DPL times: the attention
// plan's loop-bound model (loopIterations) counts DPL + 1 iterations per load. Codes convert
// through i32 (they are below 2^31): x86 SIMD has a signed int-to-float instruction but, before
// AVX-512, no unsigned one.

// Tokens of a key chunk: the attention kernel calls a family's kv_<family>_lanes_chunk before
// the keys of each run of tokens that stays within one multiple of KV_LANES_CHUNK (and
// kv_<family>_lanes_block before a block's keys), so that a family may load what several
// tokens share once per chunk or block: on llvmpipe, which predicates branches, a load
// guarded by "first token of the word" would run for every token anyway. 4 divides the tokens
// of a word at 8, 4 and 2 bits.
const KV_LANES_CHUNK: u32 = 4u;

// KIVI keys: this lane's per-channel (scale, min) for the block, and each channel's code word
// holding the current chunk's tokens.
var<private> kv_k_scale: array<f32, 32>;
var<private> kv_k_min: array<f32, 32>;
var<private> kv_k_word: array<u32, 32>;
// Codes that straddle words (3 bits): the next word, and the bit where kv_k_word starts.
var<private> kv_k_next: array<u32, 32>;
var<private> kv_k_bit: array<u32, 32>;
// A lane's run of codes shifted to start on a word (DPL codes of at most 8 bits: 8 words).
var<private> kv_run: array<u32, 8>;

// Whether a lane's run of DPL codes of `bits` bits at code index `row * HEAD_DIM + d0` (d0 a
// multiple of DPL) starts on a word and holds whole words of whole codes.
fn kv_lanes_whole_words(bits: u32) -> bool {
  return 32u % bits == 0u && (HEAD_DIM * bits) % 32u == 0u && (DPL * bits) % 32u == 0u;
}

// kv[i] = f32(code) for the DPL codes of `bits` bits from code index `first` of the bitstream at
// word `base`.
fn kv_lanes_codes(base: u32, first: u32, bits: u32) {
  if (kv_lanes_whole_words(bits)) {
    let per = 32u / bits;
    let w0 = base + first / per;
    // one load per word (the branch is constant once the loop is unrolled)
    var w = 0u;
    for (var i = 0u; i < DPL; i++) {
      if (i % per == 0u) { w = kv_pool[w0 + i / per]; }
      kv[i] = f32(i32((w >> ((i % per) * bits)) & ((1u << bits) - 1u)));
    }
  } else {
    // the run's words as if shifted to start on a word (raw words j and j + 1 funnelled by s),
    // each raw word loaded once; then each code from one or two of them
    let p0 = first * bits;
    let w0 = base + (p0 >> 5u);
    let s = p0 & 31u;
    var lo = kv_pool[w0];
    for (var j = 0u; j < (DPL * bits + 31u) / 32u; j++) {
      let hi = kv_pool[w0 + j + 1u];
      kv_run[j] = select((lo >> s) | (hi << ((32u - s) & 31u)), lo, s == 0u);
      lo = hi;
    }
    for (var i = 0u; i < DPL; i++) {
      let at = i * bits;
      let j = at >> 5u;
      let o = at & 31u;
      var q = kv_run[j] >> o;
      if (o + bits > 32u) { q = q | (kv_run[j + 1u] << (32u - o)); }
      kv[i] = f32(i32(q & ((1u << bits) - 1u)));
    }
  }
}

// vec: K codes, V codes (K with kbits, V with vbits), K params, V params; one (scale, min) per
// head vector, so one param word per token.
fn kv_vec_lanes(word_off: u32, is_v: bool, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) -> vec2<f32> {
  let k_words = kv_int_code_words(kbits);
  let k_params = word_off + k_words + kv_int_code_words(vbits);
  let row = kvh * BLOCK_SIZE + t;
  if (is_v) {
    kv_lanes_codes(word_off + k_words, row * HEAD_DIM + d0, vbits);
    return unpack2x16float(kv_pool[k_params + NUM_KV_HEADS * BLOCK_SIZE + row]);
  }
  kv_lanes_codes(word_off, row * HEAD_DIM + d0, kbits);
  return unpack2x16float(kv_pool[k_params + row]);
}

// sym and zp: the lane's codes into kv, and the vector's scale from the (K scale, V scale) word
// of its head vector pair
fn kv_scaled_lanes(word_off: u32, is_v: bool, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) -> f32 {
  let k_words = kv_int_code_words(kbits);
  let scales = kv_sym_scales(word_off, kbits, kvh, t);
  let row = kvh * BLOCK_SIZE + t;
  if (is_v) {
    kv_lanes_codes(word_off + k_words, row * HEAD_DIM + d0, vbits);
    return scales.y;
  }
  kv_lanes_codes(word_off, row * HEAD_DIM + d0, kbits);
  return scales.x;
}

// sym: the minimum is implied, -(2^b - 1) / 2 * scale
fn kv_sym_lanes(word_off: u32, is_v: bool, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) -> vec2<f32> {
  let s = kv_scaled_lanes(word_off, is_v, kvh, t, d0, kbits, vbits);
  return vec2<f32>(s, -kv_sym_half(select(kbits, vbits, is_v)) * s);
}

// zp: each vector's minimum is -(zero point) * scale
fn kv_zp_lanes(word_off: u32, is_v: bool, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) -> vec2<f32> {
  let s = kv_scaled_lanes(word_off, is_v, kvh, t, d0, kbits, vbits);
  return vec2<f32>(s, -kv_zp_point(word_off, kbits, kvh, t, is_v) * s);
}

// int (KIVI): K codes grouped per channel over the block's tokens, V codes per token; K params
// per channel, V params per token and group of kv_v_group() channels.
fn kv_int_lanes(word_off: u32, is_v: bool, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) -> vec2<f32> {
  let k_words = kv_int_code_words(kbits);
  let k_params = word_off + k_words + kv_int_code_words(vbits);
  if (is_v) {
    let base = word_off + k_words;
    let first = kv_at(kvh, t, d0);
    let v_params = k_params + NUM_KV_HEADS * HEAD_DIM;
    if (kv_v_group() % DPL == 0u) {
      // the lane's channels lie in one value group
      kv_lanes_codes(base, first, vbits);
      return unpack2x16float(kv_pool[v_params + kv_int_v_param_index(kvh, t, d0)]);
    }
    for (var i = 0u; i < DPL; i++) {
      let q = kv_read_bits(base, first + i, vbits);
      kv[i] = kv_dequant(kv_pool[v_params + kv_int_v_param_index(kvh, t, d0 + i)], q);
    }
    return vec2<f32>(1.0, 0.0);
  }
  // keys: params from kv_int_lanes_block, code words from kv_int_lanes_chunk
  for (var i = 0u; i < DPL; i++) {
    var q: u32;
    if (kv_int_k_words(kbits)) {
      q = (kv_k_word[i] >> ((t % (32u / kbits)) * kbits)) & ((1u << kbits) - 1u);
    } else {
      // o < 32 + chunk bits: the code is in the word pair kv_k_word, kv_k_next
      let o = ((kvh * HEAD_DIM + d0 + i) * BLOCK_SIZE + t) * kbits - kv_k_bit[i];
      let low = (kv_k_word[i] >> (o & 31u)) | select(0u, kv_k_next[i] << ((32u - o) & 31u), o > 0u);
      q = select(kv_k_next[i] >> (o - 32u), low, o < 32u) & ((1u << kbits) - 1u);
    }
    kv[i] = f32(i32(q)) * kv_k_scale[i] + kv_k_min[i];
  }
  return vec2<f32>(1.0, 0.0);
}

// Whether a channel's B key codes start on a word and never straddle one.
fn kv_int_k_words(kbits: u32) -> bool {
  return 32u % kbits == 0u && (BLOCK_SIZE * kbits) % 32u == 0u;
}

// KIVI keys, once per block before its keys: this lane's per-channel (scale, min).
fn kv_int_lanes_block(word_off: u32, kvh: u32, d0: u32, kbits: u32, vbits: u32) {
  let k_params = word_off + kv_int_code_words(kbits) + kv_int_code_words(vbits);
  for (var i = 0u; i < DPL; i++) {
    let sm = unpack2x16float(kv_pool[k_params + kvh * HEAD_DIM + d0 + i]);
    kv_k_scale[i] = sm.x;
    kv_k_min[i] = sm.y;
  }
}

// KIVI keys, at the start of each chunk of keys: each channel's code word holding token t
// (a chunk never crosses a multiple of KV_LANES_CHUNK tokens, so one word holds it all where
// codes do not straddle words; else two words do).
fn kv_int_lanes_chunk(word_off: u32, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) {
  for (var i = 0u; i < DPL; i++) {
    let index = (kvh * HEAD_DIM + d0 + i) * BLOCK_SIZE + t;
    if (kv_int_k_words(kbits)) {
      kv_k_word[i] = kv_pool[word_off + index / (32u / kbits)];
    } else {
      // a chunk's codes (at most KV_LANES_CHUNK * 8 bits) lie in the word of its first code and
      // the next
      let w = (index * kbits) >> 5u;
      kv_k_word[i] = kv_pool[word_off + w];
      kv_k_next[i] = kv_pool[word_off + w + 1u];
      kv_k_bit[i] = w << 5u;
    }
  }
}

// vec, sym, zp and fp8 keep nothing across tokens.
fn kv_vec_lanes_block(word_off: u32, kvh: u32, d0: u32, kbits: u32, vbits: u32) {}
fn kv_vec_lanes_chunk(word_off: u32, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) {}
fn kv_sym_lanes_block(word_off: u32, kvh: u32, d0: u32, kbits: u32, vbits: u32) {}
fn kv_sym_lanes_chunk(word_off: u32, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) {}
fn kv_zp_lanes_block(word_off: u32, kvh: u32, d0: u32, kbits: u32, vbits: u32) {}
fn kv_zp_lanes_chunk(word_off: u32, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) {}
fn kv_fp8_lanes_block(word_off: u32, kvh: u32, d0: u32, kbits: u32, vbits: u32) {}
fn kv_fp8_lanes_chunk(word_off: u32, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) {}

// fp8: K bytes, V bytes, then per head one (K scale, V scale) word.
fn kv_fp8_lanes(word_off: u32, is_v: bool, kvh: u32, t: u32, d0: u32, kbits: u32, vbits: u32) -> vec2<f32> {
  let base = select(word_off, word_off + kv_fp8_code_words(), is_v);
  let scales = kv_fp8_scales(word_off, kvh);
  let first = kv_at(kvh, t, d0);
  if (kv_lanes_whole_words(8u)) {
    let w0 = base + first / 4u;
    var w = 0u;
    for (var i = 0u; i < DPL; i++) {
      if (i % 4u == 0u) { w = kv_pool[w0 + i / 4u]; }
      kv[i] = kv_lanes_e4m3((w >> ((i % 4u) * 8u)) & 0xffu);
    }
  } else {
    for (var i = 0u; i < DPL; i++) { kv[i] = kv_lanes_e4m3(kv_fp8_byte(base, first + i)); }
  }
  return vec2<f32>(select(scales.x, scales.y, is_v), 0.0);
}

// kv_e4m3_decode in fewer operations, to the same value: a normal code's exponent and mantissa
// bits, moved into an f32's and rebiased (7 to 127), are the value exactly; subnormals
// (exponent 0) are m / 512. Every dtype's decoder runs under a mask on llvmpipe, so this one
// is kept short.
fn kv_lanes_e4m3(code: u32) -> f32 {
  let normal = bitcast<f32>(((code & 0x7fu) << 20u) + (120u << 23u));
  let mag = select(normal, f32(i32(code & 7u)) * (1.0 / 512.0), (code & 0x78u) == 0u);
  return bitcast<f32>(bitcast<u32>(mag) | ((code & 0x80u) << 24u));
}
