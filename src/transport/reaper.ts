/**
 * Closes connections that were ended politely but whose peer never finished closing. One shared,
 * coarse sweep (once a second) instead of a timer per closing connection: a wave of disconnects
 * costs an array push each.
 */
const GRACE_MS = 5000;

interface Closable {
  destroyed?: boolean;
  destroy?(): void;
  terminate?(): void;
}

let pending: { at: number; target: Closable }[] = [];
let timer: NodeJS.Timeout | undefined;

export function reapLater(target: Closable): void {
  pending.push({ at: Date.now() + GRACE_MS, target });
  if (timer === undefined) {
    timer = setInterval(sweep, 1000);
    timer.unref();
  }
}

function sweep(): void {
  const now = Date.now();
  let i = 0;
  while (i < pending.length && pending[i]!.at <= now) {
    const t = pending[i]!.target;
    if (!t.destroyed) {
      if (t.terminate) t.terminate();
      else t.destroy?.();
    }
    i++;
  }
  if (i > 0) pending = pending.slice(i);
  if (pending.length === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}
