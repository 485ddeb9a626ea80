/**
 * The subscriptions of one tenant: the topic index of its regular subscriptions and shared groups.
 */
import { TopicIndex } from '../topic/topic-index';
import type { RouteEntry, SessionSubscription, SharedGroup } from '../session/subscription';

export class SubscriptionTable {
  readonly index: TopicIndex<RouteEntry>;
  private readonly groups = new Map<string, SharedGroup>();
  /** Regular (non-shared) subscriptions held. */
  regularCount = 0;
  /** Shared-group memberships held. */
  sharedCount = 0;

  constructor(cacheSize?: number) {
    this.index = new TopicIndex<RouteEntry>({ cacheSize });
  }

  add(sub: SessionSubscription): void {
    if (sub.shareName === undefined) {
      this.index.add(sub.filter, sub, sub.wildcard);
      this.regularCount++;
      return;
    }
    const key = groupKey(sub.shareName, sub.filter);
    let group = this.groups.get(key);
    if (!group) {
      group = { kind: 'group', name: sub.shareName, filter: sub.filter, wildcard: sub.wildcard, members: [], next: 0 };
      this.groups.set(key, group);
      this.index.add(sub.filter, group, sub.wildcard);
    }
    group.members.push(sub);
    sub.group = group;
    this.sharedCount++;
  }

  remove(sub: SessionSubscription): void {
    if (sub.shareName === undefined) {
      if (this.index.remove(sub.filter, sub, sub.wildcard)) this.regularCount--;
      return;
    }
    const group = sub.group;
    if (!group) return;
    const at = group.members.indexOf(sub);
    if (at >= 0) {
      group.members.splice(at, 1);
      this.sharedCount--;
      if (group.next > at) group.next--;
    }
    sub.group = undefined;
    if (group.members.length === 0) {
      this.groups.delete(groupKey(group.name, group.filter));
      this.index.remove(group.filter, group, group.wildcard);
    }
  }

  /** The members count of a shared group (for the per-group member limit). */
  groupSize(shareName: string, filter: string): number {
    return this.groups.get(groupKey(shareName, filter))?.members.length ?? 0;
  }

  match(topic: string): readonly RouteEntry[] {
    return this.index.match(topic);
  }
}

function groupKey(name: string, filter: string): string {
  return `${name}\u0000${filter}`;
}
