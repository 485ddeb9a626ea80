/**
 * Memory for the small PUBLISH templates of messages in flight through the broker (one per message
 * and variant, see publish-encoder.ts): one ring of 8 MB, reused round and round, instead of Node's
 * shared Buffer pool.
 *
 * Why: the shared pool hands out slices of 8 KB slabs to everything that allocates a small Buffer.
 * A single long-lived slice (a queued message's payload copy, say) keeps its whole slab alive, so
 * under a flood most slabs outlive young garbage collections. V8 counts that memory outside its heap
 * and starts a full collection for every few megabytes of it: several a second, each stopping the
 * event loop (and every tenant) for milliseconds. The ring allocates nothing per message.
 *
 * The price is a rule: a template is valid only in the generation of the ring it was written in.
 * When the ring wraps, its generation moves on and every older template counts as gone (its
 * message encodes again if it is delivered later), and nothing may keep a view of the ring beyond
 * the call that wrote it: the bytes are copied into a socket's output, never handed over as they are.
 */

/** Bytes of the ring; a template larger than a sixteenth of it is not put there. */
const RING_SIZE = 8 * 1024 * 1024;
export const MAX_RING_TEMPLATE = 2048;

export class TemplateRing {
  private readonly memory: Buffer;
  private pos = 0;
  /** Moves on each time the ring wraps; starts at 1 (0 means "not in a ring"). */
  generation = 1;

  constructor(size: number = RING_SIZE) {
    this.memory = Buffer.allocUnsafeSlow(size);
  }

  /** `size` bytes of the ring (at most MAX_RING_TEMPLATE), valid while `generation` is unchanged. */
  readonly take = (size: number): Buffer => {
    let at = this.pos;
    if (at + size > this.memory.length) {
      at = 0;
      this.generation++;
    }
    // 8-byte alignment keeps copies out of and into the ring on fast paths.
    this.pos = (at + size + 7) & ~7;
    return this.memory.subarray(at, at + size);
  };
}

/** The ring of this process (the event loop is one thread: one ring serves every connection). */
export const templateRing = new TemplateRing();
