/**
 * The prefix cache: full, final prompt blocks keyed by their content — the key of the block
 * before them, their token ids and their dtype (an int4 block is not an f16 block) — and shared
 * by reference count across sequences. A block whose last sequence lets go stays cached,
 * unreferenced, until memory pressure evicts it, least recently used first. Only blocks that
 * are final (sealed, or f16 by their phase's dtype, and out of the recent window) are ever
 * registered, so open, partial and window blocks are never shared.
 * @module
 */
import type { KvArena } from "./arena.ts";

interface CachedBlock {
  /** Unique id: the parent key of the next block in a chain. */
  id: number;
  key: string;
  offset: number;
  dtype: string;
  refs: number;
  /** Tick of the last adopt or release (LRU order among unreferenced blocks). */
  lastUsed: number;
}

/** Tokens of prefix lookups and of hits (vLLM's prefix_cache_queries / prefix_cache_hits). */
export interface PrefixCacheCounters {
  queries: number;
  hits: number;
}

/** A content-keyed, reference-counted cache of prompt blocks on one arena. */
export class PrefixCache {
  readonly #arena: KvArena;
  readonly #byKey = new Map<string, CachedBlock>();
  readonly #byOffset = new Map<number, CachedBlock>();
  #nextId = 1;
  #tick = 0;
  /** Tokens looked up, and tokens found, since the engine started. */
  readonly counters: PrefixCacheCounters = { queries: 0, hits: 0 };

  /** A cache whose evictions free blocks back to `arena`. */
  constructor(arena: KvArena) {
    this.#arena = arena;
  }

  /** The key of a block: its parent's id (0 for the first), dtype and tokens. */
  static key(parentId: number, dtype: string, tokens: readonly number[]): string {
    return `${parentId}/${dtype}/${tokens.join(",")}`;
  }

  /** Cached blocks (referenced or not). */
  get size(): number {
    return this.#byKey.size;
  }

  /** Whether the block at `offset` is in the cache (so it must not be rewritten). */
  has(offset: number): boolean {
    return this.#byOffset.has(offset);
  }

  /** Sequences holding the cached block at `offset` (0 when unreferenced or not cached). */
  refs(offset: number): number {
    return this.#byOffset.get(offset)?.refs ?? 0;
  }

  /** Takes a reference to the block of `key`: its id and offset, or null on a miss. */
  adopt(key: string): { id: number; offset: number } | null {
    const block = this.#byKey.get(key);
    if (!block) return null;
    block.refs++;
    block.lastUsed = ++this.#tick;
    return { id: block.id, offset: block.offset };
  }

  /**
   * Registers a sequence's own block under `key`, keeping its reference; returns its id. When
   * the key is already cached (another sequence computed the same block), the block stays
   * private and the cached entry's id is returned, so chains continue through either.
   */
  insert(key: string, offset: number, dtype: string): { id: number; cached: boolean } {
    const existing = this.#byKey.get(key);
    if (existing) return { id: existing.id, cached: false };
    const block = { id: this.#nextId++, key, offset, dtype, refs: 1, lastUsed: ++this.#tick };
    this.#byKey.set(key, block);
    this.#byOffset.set(offset, block);
    return { id: block.id, cached: true };
  }

  /** Drops one reference to the cached block at `offset`; it stays cached when unreferenced. */
  release(offset: number): void {
    const block = this.#byOffset.get(offset);
    if (!block || block.refs === 0) {
      throw new RangeError(`No reference is held on a cached KV block at offset ${offset}`);
    }
    block.refs--;
    block.lastUsed = ++this.#tick;
  }

  /** Unreferenced cached blocks, which eviction can free. */
  evictable(): number {
    let n = 0;
    for (const block of this.#byKey.values()) if (block.refs === 0) n++;
    return n;
  }

  /** Bytes (all layers) of the unreferenced blocks: free for any use once evicted. */
  evictableBytes(): number {
    let perLayer = 0;
    for (const block of this.#byKey.values()) {
      if (block.refs === 0) perLayer += this.#arena.blockBytes(block.dtype);
    }
    return perLayer * this.#arena.numLayers;
  }

  /** Frees up to `count` unreferenced blocks, least recently used first; returns how many. */
  evict(count: number): number {
    const victims = [...this.#byKey.values()].filter((b) => b.refs === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed).slice(0, count);
    for (const block of victims) {
      this.#byKey.delete(block.key);
      this.#byOffset.delete(block.offset);
      this.#arena.free(block.offset);
    }
    return victims.length;
  }

  /** Frees every unreferenced block (tests; an engine going idle keeps them). */
  clear(): number {
    return this.evict(Infinity);
  }
}
