/**
 * The subscription index of one tenant: which entries match a topic.
 *
 * Filters without wildcards live in a map keyed by the filter (one lookup per publish); filters
 * with `+` or `#` live in a trie of levels. Match results are kept in a bounded cache keyed by topic,
 * emptied whenever the set of subscriptions changes (the generation moves on), so a repeated topic
 * costs one map lookup. The returned arrays are shared with the cache: callers must not mutate them.
 */

interface TrieNode<T> {
  children: Map<string, TrieNode<T>> | undefined;
  plus: TrieNode<T> | undefined;
  /** Entries of filters ending in `#` at this node (match this level and everything below). */
  hash: T[] | undefined;
  /** Entries of filters ending exactly at this node. */
  here: T[] | undefined;
}

function newNode<T>(): TrieNode<T> {
  return { children: undefined, plus: undefined, hash: undefined, here: undefined };
}

const EMPTY: readonly never[] = Object.freeze([]);

export interface TopicIndexOptions {
  /** Topics whose match result is cached; 0 turns the cache off. */
  cacheSize?: number;
}

export class TopicIndex<T> {
  private readonly exact = new Map<string, readonly T[]>();
  private readonly root: TrieNode<T> = newNode();
  private wildcardCount = 0;
  private entryCount = 0;
  private readonly cache = new Map<string, readonly T[]>();
  private readonly cacheSize: number;
  /** Moves on with every change; lets holders of a match result know it is stale. */
  generation = 0;

  constructor(options: TopicIndexOptions = {}) {
    this.cacheSize = options.cacheSize ?? 4096;
  }

  /** Number of (filter, entry) pairs held. */
  get size(): number {
    return this.entryCount;
  }

  /** Adds `entry` under `filter` (a valid filter without `$share/` prefix). */
  add(filter: string, entry: T, wildcard: boolean): void {
    this.changed();
    this.entryCount++;
    if (!wildcard) {
      // Copy on write: a match result handed out earlier never changes under its holder.
      const list = this.exact.get(filter);
      this.exact.set(filter, list ? [...list, entry] : [entry]);
      return;
    }
    this.wildcardCount++;
    let node = this.root;
    const levels = filter.split('/');
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i]!;
      if (level === '#') {
        (node.hash ??= []).push(entry);
        return;
      }
      if (level === '+') {
        node = node.plus ??= newNode();
      } else {
        const children = (node.children ??= new Map());
        let next = children.get(level);
        if (!next) {
          next = newNode();
          children.set(level, next);
        }
        node = next;
      }
    }
    (node.here ??= []).push(entry);
  }

  /** Removes one `entry` under `filter`; returns whether it was there. */
  remove(filter: string, entry: T, wildcard: boolean): boolean {
    if (!wildcard) {
      const list = this.exact.get(filter);
      const at = list ? list.indexOf(entry) : -1;
      if (!list || at < 0) return false;
      if (list.length === 1) this.exact.delete(filter);
      else this.exact.set(filter, list.filter((_, i) => i !== at));
      this.changed();
      this.entryCount--;
      return true;
    }
    const levels = filter.split('/');
    const removed = this.removeAt(this.root, levels, 0, entry);
    if (removed) {
      this.changed();
      this.entryCount--;
      this.wildcardCount--;
    }
    return removed;
  }

  /** Every entry whose filter matches `topic` (a valid topic name). Do not mutate the result. */
  match(topic: string): readonly T[] {
    if (this.cacheSize > 0) {
      const hit = this.cache.get(topic);
      if (hit !== undefined) return hit;
    }
    const exact = this.exact.get(topic);
    let result: readonly T[];
    if (this.wildcardCount === 0) {
      result = exact ?? EMPTY;
    } else {
      const out: T[] = exact ? exact.slice() : [];
      const levels = topic.split('/');
      // [MQTT-4.7.2-1] '+' and '#' at the first level do not match topics that start with '$'.
      const dollar = topic.charCodeAt(0) === 0x24;
      collect(this.root, levels, 0, out, dollar);
      result = out.length === 0 ? EMPTY : out;
    }
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) {
        const oldest = this.cache.keys().next();
        if (!oldest.done) this.cache.delete(oldest.value);
      }
      this.cache.set(topic, result);
    }
    return result;
  }

  private changed(): void {
    this.generation++;
    if (this.cache.size > 0) this.cache.clear();
  }

  private removeAt(node: TrieNode<T>, levels: string[], i: number, entry: T): boolean {
    const level = levels[i];
    if (level === undefined) {
      return node.here !== undefined && removeFrom(node.here, entry) && (tidy(node), true);
    }
    if (level === '#') {
      return node.hash !== undefined && removeFrom(node.hash, entry) && (tidy(node), true);
    }
    if (level === '+') {
      const next = node.plus;
      if (!next || !this.removeAt(next, levels, i + 1, entry)) return false;
      if (isEmpty(next)) node.plus = undefined;
      return true;
    }
    const next = node.children?.get(level);
    if (!next || !this.removeAt(next, levels, i + 1, entry)) return false;
    if (isEmpty(next)) {
      node.children!.delete(level);
      if (node.children!.size === 0) node.children = undefined;
    }
    return true;
  }
}

function collect<T>(node: TrieNode<T>, levels: string[], i: number, out: T[], dollar: boolean): void {
  const first = i === 0 && dollar;
  if (node.hash && !first) pushAll(out, node.hash);
  if (i === levels.length) {
    if (node.here) pushAll(out, node.here);
    return;
  }
  const level = levels[i]!;
  const child = node.children?.get(level);
  if (child) collect(child, levels, i + 1, out, dollar);
  if (node.plus && !first) collect(node.plus, levels, i + 1, out, dollar);
}

function pushAll<T>(out: T[], items: T[]): void {
  for (let i = 0; i < items.length; i++) out.push(items[i]!);
}

function removeFrom<T>(list: T[], entry: T): boolean {
  const at = list.indexOf(entry);
  if (at < 0) return false;
  const last = list.pop()!;
  if (at < list.length) list[at] = last;
  return true;
}

function tidy<T>(node: TrieNode<T>): void {
  if (node.here?.length === 0) node.here = undefined;
  if (node.hash?.length === 0) node.hash = undefined;
}

function isEmpty<T>(node: TrieNode<T>): boolean {
  return node.here === undefined && node.hash === undefined && node.plus === undefined && node.children === undefined;
}
