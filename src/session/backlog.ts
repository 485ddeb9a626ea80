/**
 * When a live subscriber counts as behind, far behind, caught up or stalled: the thresholds of
 * backpressure towards its publishers (session.ts applies them).
 */

/**
 * A subscriber whose socket has taken nothing, and who acknowledged nothing, for this long (ms) is
 * stalled; for longer (up to STALL_MAX_MS) when its socket holds more than STALL_RATE bytes a
 * second would take in that time.
 */
export const STALL_MS = 250;
/**
 * The slowest reading (bytes/s) that still counts as consuming. The kernel takes a socket's
 * output a whole write at a time (a turn's writes to one client, up to megabytes), so progress is
 * seen only that often: a client gets as long as its backlog takes at this rate to show it, up to
 * STALL_MAX_MS (its publishers wait meanwhile, so a client that stops reading behind a huge
 * backlog must not hold them for long).
 */
export const STALL_RATE = 1024 * 1024;
export const STALL_MAX_MS = 1000;
/** Bytes waiting in a socket's own buffer above which its client may be stalled. */
export const STALL_BACKLOG = 256 * 1024;

/** How long (ms) a client with `backlog` bytes waiting may take nothing before it counts as stalled. */
export function stallWindow(backlog: number): number {
  const ms = (backlog * 1000) / STALL_RATE;
  return ms < STALL_MS ? STALL_MS : ms > STALL_MAX_MS ? STALL_MAX_MS : ms;
}

/**
 * Queue lengths of a live subscriber at which its publishers are paused, and resumed. Small and
 * absolute, so that a fast publisher is slowed early: long queues cost memory and garbage
 * collection time, and the room left in the inbox absorbs what publishers already sent.
 */
export function backlogHigh(inboxSize: number): number {
  return Math.min(inboxSize >> 1, 512);
}

/**
 * Queue length past which a paused publisher also stops decoding what it already sent: twice the
 * pause point, and never past halfway from there to a full inbox (a small inbox would otherwise
 * overflow first).
 */
export function backlogFar(inboxSize: number): number {
  const high = backlogHigh(inboxSize);
  return Math.min(2 * high, high + ((inboxSize - high) >> 1));
}

/** Queue length at which a subscriber has caught up: its paused publishers are resumed. */
export function backlogLow(inboxSize: number): number {
  return Math.min(inboxSize >> 2, 128);
}
