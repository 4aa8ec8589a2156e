// Writes each row's K and V (from the qkv buffer) into its sequence's open f16 block.
// Block layout (shared with src/kv): a K section then a V section, each
// [NUM_KV_HEADS][BLOCK_SIZE][HEAD_DIM] halves packed two per u32 (element 2i low, 2i+1 high).
//   K[kvh][t][d] = qkv[r][K_BASE + kvh * HEAD_DIM + d], V likewise from V_BASE,
//   with (block word offset, t) = (rows[r].kv_word, rows[r].kv_slot) computed by the host.
// bindings: 0 qkv array<f32> [rows][STRIDE], 1 rows array<u32> [rows][ROW_WORDS]
//           (word 4 block word offset, word 5 token index in the block),
//           2 kv_pool array<u32> read_write, 3 count uniform (n = rows)
// dispatch: (ceil(NUM_KV_HEADS * HEAD_DIM / 2 / WG), rows)
override WG: u32 = 8u;
override NUM_KV_HEADS: u32;
override BLOCK_SIZE: u32;
override HEAD_DIM: u32;
override STRIDE: u32;
override K_BASE: u32;
override V_BASE: u32;
const ROW_WORDS: u32 = 8u;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read_write> kv_pool: array<u32>;
@group(0) @binding(3) var<uniform> count: Count;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = HEAD_DIM / 2u;
  let r = gid.y;
  if (gid.x >= NUM_KV_HEADS * half || r >= count.n) { return; }
  let kvh = gid.x / half;
  let pair = gid.x % half;
  let block = rows[r * ROW_WORDS + 4u];
  let t = rows[r * ROW_WORDS + 5u];
  let src = r * STRIDE + kvh * HEAD_DIM + 2u * pair;
  let dst = block + (kvh * BLOCK_SIZE + t) * half + pair;
  kv_pool[dst] = pack2x16float(vec2<f32>(qkv[K_BASE + src], qkv[K_BASE + src + 1u]));
  kv_pool[dst + NUM_KV_HEADS * BLOCK_SIZE * half] =
    pack2x16float(vec2<f32>(qkv[V_BASE + src], qkv[V_BASE + src + 1u]));
}
