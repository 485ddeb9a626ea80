/**
 * Who publishes where and who hears whom: topics, filters, the publishers each subscriber matches,
 * and how connections are shared between worker threads. Every thread derives the same plan from
 * the same options, so only options cross thread boundaries.
 */
import type { BenchOptions } from './options';

export interface Plan {
  pubTopics: string[];
  subFilters: string[];
  /** Per subscriber: the sorted indices of the publishers it hears, or null for all of them. */
  subMatches: (Int32Array | null)[];
  /** Per publisher: how many subscribers hear it. */
  fanout: Float64Array;
  pairs: number;
}

/** MQTT topic matching of a filter against a topic name (no $-topic rule: the generator's topics never start with $). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

export function makePlan(o: BenchOptions): Plan {
  const pubTopics: string[] = [];
  for (let i = 0; i < o.pubs; i++) pubTopics.push(o.topics === 'one' ? `${o.prefix}/all` : `${o.prefix}/${i}`);
  const subFilters: string[] = [];
  const subMatches: (Int32Array | null)[] = [];
  const fanout = new Float64Array(o.pubs);
  let pairs = 0;
  for (let j = 0; j < o.subs; j++) {
    let filter: string;
    let matches: Int32Array | null;
    if (o.filterString !== undefined) {
      filter = o.filterString;
      const m: number[] = [];
      for (let i = 0; i < o.pubs; i++) if (topicMatches(filter, pubTopics[i] as string)) m.push(i);
      matches = m.length === o.pubs ? null : Int32Array.from(m);
    } else if (o.topics === 'one') {
      filter = `${o.prefix}/${o.filter === 'wildcard' ? '#' : 'all'}`;
      matches = null;
    } else if (o.filter === 'wildcard') {
      filter = `${o.prefix}/+`;
      matches = null;
    } else {
      const i = o.pubs > 0 ? j % o.pubs : 0;
      filter = `${o.prefix}/${i}`;
      matches = o.pubs > 0 ? Int32Array.of(i) : new Int32Array(0);
      if (o.pubs === 1) matches = null;
    }
    subFilters.push(filter);
    subMatches.push(matches);
    if (matches === null) {
      for (let i = 0; i < o.pubs; i++) fanout[i] = (fanout[i] as number) + 1;
      pairs += o.pubs;
    } else {
      for (const i of matches) fanout[i] = (fanout[i] as number) + 1;
      pairs += matches.length;
    }
  }
  return { pubTopics, subFilters, subMatches, fanout, pairs };
}

/** The slot of publisher `pub` in a subscriber's accounting arrays, or -1 if it should not hear it. */
export function slotOf(matches: Int32Array | null, pubs: number, pub: number): number {
  if (matches === null) return pub < pubs ? pub : -1;
  let lo = 0;
  let hi = matches.length - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    const v = matches[m] as number;
    if (v === pub) return m;
    if (v < pub) lo = m + 1;
    else hi = m - 1;
  }
  return -1;
}

export interface Share {
  subs: number[];
  pubs: number[];
  idle: number[];
}

/** Connections of worker `w` of `workers`: round robin, so each worker gets a similar mix. */
export function shareOf(o: BenchOptions, w: number, workers: number): Share {
  const pick = (n: number): number[] => {
    const out: number[] = [];
    for (let i = w; i < n; i += workers) out.push(i);
    return out;
  };
  if (o.idle > 0) return { subs: [], pubs: [], idle: pick(o.idle) };
  return { subs: pick(o.subs), pubs: pick(o.pubs), idle: [] };
}

/** Messages publisher `i` may send under --count (Infinity without a limit). */
export function countOf(o: BenchOptions, i: number): number {
  if (o.count <= 0 || o.pubs === 0) return Infinity;
  return Math.floor(o.count / o.pubs) + (i < o.count % o.pubs ? 1 : 0);
}
