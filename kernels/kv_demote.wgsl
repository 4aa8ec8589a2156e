// kv_demote.wgsl: decodes a sealed (quantized) KV block of one layer into an f16 scratch block,
// which the seal kernel then quantizes into the smaller destination dtype. A demotion is thus
// exactly "seal the block's decoded values": the registry's decode (kv_decode.wgsl) followed by
// its encode (kv_seal.wgsl). Oracle: tests/reference/kv_codec.ts, encodeBlock(decodeBlock(...)).
//
// Compiled after kv_decode.wgsl and kv_seal.wgsl (it reads kv_pool and rounds with f16_bits).
// Bindings: 0 kv_pool (from kv_seal.wgsl), 2 jobs (storage, one entry per demotion of the step).
// One dispatch decodes every demotion of a step: workgroup row y is demotion y, and within it one
// invocation per u32 word of the f16 block (two halves each; K words, then V words). (One
// dispatch per demotion with a dynamic-offset uniform leaked memory on Deno's lavapipe stack,
// ~70 MB/s while demoting every step: reports/accuracy/think_after_answer.md.)

struct Demote {
  src_word: u32,
  // the f16 scratch block the seal kernel reads next
  scratch_word: u32,
  // registry id of the source dtype (src/kv/dtype.ts), never 0 (f16 blocks are sealed directly)
  src_dtype: u32,
  pad: u32,
}

@group(0) @binding(2) var<storage, read> jobs: array<Demote>;

fn demote_value(job: Demote, i: u32) -> f32 {
  let n = kv_elems();
  let j = i % n;
  let d = j % HEAD_DIM;
  let t = (j / HEAD_DIM) % BLOCK_SIZE;
  let h = j / (HEAD_DIM * BLOCK_SIZE);
  if (i < n) {
    return kv_k_quant(job.src_word, job.src_dtype, h, t, d);
  }
  return kv_v_quant(job.src_word, job.src_dtype, h, t, d);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn demote_decode(@builtin(global_invocation_id) gid: vec3<u32>) {
  let w = gid.x;
  if (w >= kv_elems() || gid.y >= arrayLength(&jobs)) {
    return;
  }
  let job = jobs[gid.y];
  // f16_bits rounds to nearest even by hand, as the oracle's packF16Block does
  let lo = f16_bits(demote_value(job, 2u * w));
  let hi = f16_bits(demote_value(job, 2u * w + 1u));
  kv_pool[job.scratch_word + w] = lo | (hi << 16u);
}
