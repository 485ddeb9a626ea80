/**
 * When a tenant should move to the background process, and when it should come back (automatic
 * placement, see placement.ts). Pure decisions from measured load and the time; no I/O.
 *
 * - Out: in every interval of the broker's fair scheduler where the event loop was busy and more
 *   than one tenant was active, the tenant that brought at least half of the inbound bytes (and at
 *   least 1 MB/s) is the candidate. A candidate that stays so for `afterMs` (gaps of up to half a second allowed) moves.
 *   Fair scheduling already keeps such a tenant to its share; moving it also takes its work off the
 *   CPU time the other tenants need (the background process runs only on time nothing else wants).
 * - Back: a tenant in the background whose inbound rate there stayed under a tenth of what the
 *   broker's loop can handle (its measured capacity) for `calmMs` comes back.
 */
import type { IntervalLoad } from '../tenant/fair-scheduler';

/** Event-loop utilization from which an interval counts as busy. */
export const BUSY_UTILIZATION = 0.5;
/** Part of the inbound bytes that makes a tenant the candidate. */
export const DOMINANT_SHARE = 0.5;
/** Part of the broker's capacity under which a tenant in the background counts as calm. */
export const CALM_SHARE = 0.1;
/**
 * Inbound bytes per millisecond a candidate brings at least (1 MB/s): a tenant sending little is
 * not what keeps the loop busy, whatever its share.
 */
export const MIN_CANDIDATE_BYTES_PER_MS = 1000;
/** Longest gap between an interval's candidate and the next that still counts as one stretch (ms). */
const GAP_MS = 500;
/** Capacity assumed before the broker has measured any (inbound bytes per ms). */
const DEFAULT_CAPACITY_PER_MS = 50_000;

export interface LoadWatchOptions {
  afterMs: number;
  calmMs: number;
}

export class LoadWatch {
  private candidate: string | undefined;
  private since = 0;
  private lastSeen = 0;
  private capacityPerMs = 0;
  private readonly calmSince = new Map<string, number>();

  constructor(private readonly options: LoadWatchOptions) {}

  /** How long the current candidate has been one (ms; 0 when there is none, or it has not been seen lately). */
  candidateFor(now: number): number {
    if (this.candidate === undefined || now - this.lastSeen > GAP_MS) return 0;
    return now - this.since;
  }

  /**
   * One interval of the broker's own loop. Returns the tenant to move out, if one has been the
   * candidate long enough and `movable` allows it.
   */
  interval(load: IntervalLoad, now: number, movable: (tenantId: string) => boolean): string | undefined {
    if (load.capacityPerMs > 0) this.capacityPerMs = load.capacityPerMs;
    if (load.elu < BUSY_UTILIZATION || load.active < 2) return undefined;
    let total = 0;
    let top: string | undefined;
    let topBytes = 0;
    for (const [id, bytes] of load.bytes) {
      total += bytes;
      if (bytes > topBytes) {
        top = id;
        topBytes = bytes;
      }
    }
    if (top === undefined || topBytes < total * DOMINANT_SHARE || topBytes < MIN_CANDIDATE_BYTES_PER_MS * load.elapsedMs || !movable(top)) return undefined;
    if (top !== this.candidate || now - this.lastSeen > GAP_MS) {
      this.candidate = top;
      this.since = now;
    }
    this.lastSeen = now;
    if (now - this.since < this.options.afterMs) return undefined;
    this.candidate = undefined;
    return top;
  }

  /**
   * The background process's inbound bytes per second by tenant, for the tenants placed there
   * automatically (`placed`; one missing from `rates` sent nothing). Returns those calm long enough
   * to come back (`calmMsOf`: how long that is for a tenant; `calmMs` unless it swung back and forth).
   */
  background(rates: ReadonlyMap<string, number>, placed: Iterable<string>, now: number, calmMsOf: (tenantId: string) => number = () => this.options.calmMs): string[] {
    const calmBelow = (this.capacityPerMs > 0 ? this.capacityPerMs : DEFAULT_CAPACITY_PER_MS) * 1000 * CALM_SHARE;
    const back: string[] = [];
    const seen = new Set<string>();
    for (const id of placed) {
      seen.add(id);
      if ((rates.get(id) ?? 0) >= calmBelow) {
        this.calmSince.delete(id);
        continue;
      }
      const since = this.calmSince.get(id);
      if (since === undefined) this.calmSince.set(id, now);
      else if (now - since >= calmMsOf(id)) {
        this.calmSince.delete(id);
        back.push(id);
      }
    }
    for (const id of this.calmSince.keys()) if (!seen.has(id)) this.calmSince.delete(id);
    return back;
  }
}
