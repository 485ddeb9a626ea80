/**
 * How far a paused socket reads ahead.
 *
 * `socket.pause()` on a Node.js socket only stops its 'data' events: the socket goes on reading
 * until its readable buffer holds `readableHighWaterMark` bytes (16 KiB), and a client that sends
 * small packets fills that with dozens of reads, each a Buffer (an ArrayBuffer outside the heap)
 * of its own. The broker pauses sockets all the time (fair scheduling between tenants, subscribers
 * that fell behind, rate limits), and those buffered reads wait out the pause: they live through
 * young collections, are promoted, and each full collection then frees tens of thousands of them
 * in one pause (measured: 6 to 31 ms of `sweep_array_buffers` in a single mark-compact while a
 * neighbour published 200,000 msg/s in small packets, which took a quiet tenant's p99 from about
 * 1.6 ms to 9-22 ms).
 *
 * With a high-water mark of one byte a paused socket reads at most one chunk more and then stops
 * (Node's own readStop); the rest stays in the kernel as TCP backpressure. A flowing socket is not
 * affected: its chunks are handed out as they come and never buffered (measured: no readStop or
 * readStart calls, the same throughput).
 *
 * Limits that remain:
 * - TLS: one read of the TCP socket is decrypted whole, so a TLS socket paused in the middle of a
 *   burst still buffers every record that read brought (up to 64 KiB, often one record per MQTT
 *   packet); it stops after that read instead of going on to 16 KiB and beyond.
 * - A paused socket no longer reads, so a peer's reset is noticed when the pause ends (or the broker
 *   writes): every pause has a bound of its own, so this only delays noticing a dead client.
 * - `read(n)` with n above the mark raises it again (Node grows the mark to fit); nothing here reads
 *   a socket that way (`ws` does once, on a socket that is closing).
 */
import type { Readable } from 'node:stream';

/** Bytes a paused socket may buffer before it stops reading (one chunk at most). */
export const READ_AHEAD_BYTES = 1;

interface ReadableInternals {
  _readableState?: { highWaterMark?: unknown };
}

/**
 * Makes a paused `stream` stop reading after at most one more chunk. Returns false where the
 * stream keeps its state elsewhere (a Node.js change): it then reads ahead as before.
 */
export function limitReadAhead(stream: Readable): boolean {
  const state = (stream as unknown as ReadableInternals)._readableState;
  if (state === undefined || typeof state.highWaterMark !== 'number') return false;
  state.highWaterMark = READ_AHEAD_BYTES;
  return true;
}
