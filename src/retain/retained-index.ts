/**
 * Stored topics arranged as a trie of levels, to find the retained messages a filter matches
 * without scanning every topic.
 */
interface Node<V> {
  children: Map<string, Node<V>> | undefined;
  value: V | undefined;
}

function newNode<V>(): Node<V> {
  return { children: undefined, value: undefined };
}

export class RetainedIndex<V> {
  private readonly root: Node<V> = newNode();
  private readonly exact = new Map<string, V>();

  get size(): number {
    return this.exact.size;
  }

  get(topic: string): V | undefined {
    return this.exact.get(topic);
  }

  set(topic: string, value: V): V | undefined {
    const previous = this.exact.get(topic);
    this.exact.set(topic, value);
    let node = this.root;
    for (const level of topic.split('/')) {
      const children = (node.children ??= new Map());
      let next = children.get(level);
      if (!next) {
        next = newNode();
        children.set(level, next);
      }
      node = next;
    }
    node.value = value;
    return previous;
  }

  delete(topic: string): V | undefined {
    const previous = this.exact.get(topic);
    if (previous === undefined) return undefined;
    this.exact.delete(topic);
    this.deleteAt(this.root, topic.split('/'), 0);
    return previous;
  }

  /** Values of topics matching `filter` (a valid filter), at most `limit` of them. */
  match(filter: string, limit: number): V[] {
    const out: V[] = [];
    if (limit <= 0) return out;
    if (!filter.includes('+') && !filter.includes('#')) {
      const v = this.exact.get(filter);
      if (v !== undefined) out.push(v);
      return out;
    }
    collect(this.root, filter.split('/'), 0, out, limit);
    return out;
  }

  *entries(): IterableIterator<[string, V]> {
    yield* this.exact.entries();
  }

  private deleteAt(node: Node<V>, levels: string[], i: number): boolean {
    if (i === levels.length) {
      node.value = undefined;
    } else {
      const child = node.children?.get(levels[i]!);
      if (child && this.deleteAt(child, levels, i + 1)) {
        node.children!.delete(levels[i]!);
        if (node.children!.size === 0) node.children = undefined;
      }
    }
    return node.value === undefined && node.children === undefined;
  }
}

function collect<V>(node: Node<V>, levels: string[], i: number, out: V[], limit: number): void {
  if (out.length >= limit) return;
  if (i === levels.length) {
    if (node.value !== undefined) out.push(node.value);
    return;
  }
  const level = levels[i]!;
  const first = i === 0;
  if (level === '#') {
    // '#' matches the parent level too ("a/#" matches "a").
    if (!first && node.value !== undefined) out.push(node.value);
    collectAll(node, out, limit, first);
    return;
  }
  if (!node.children) return;
  if (level === '+') {
    for (const [name, child] of node.children) {
      // [MQTT-4.7.2-1] first-level wildcards do not match '$' topics.
      if (first && name.charCodeAt(0) === 0x24) continue;
      collect(child, levels, i + 1, out, limit);
      if (out.length >= limit) return;
    }
    return;
  }
  const child = node.children.get(level);
  if (child) collect(child, levels, i + 1, out, limit);
}

function collectAll<V>(node: Node<V>, out: V[], limit: number, skipDollar: boolean): void {
  if (!node.children) return;
  for (const [name, child] of node.children) {
    if (out.length >= limit) return;
    if (skipDollar && name.charCodeAt(0) === 0x24) continue;
    if (child.value !== undefined) out.push(child.value);
    collectAll(child, out, limit, false);
  }
}
