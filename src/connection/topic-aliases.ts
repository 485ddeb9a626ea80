/**
 * MQTT 5 topic aliases (section 3.3.2.3.4) in both directions for one connection.
 */
import { ReasonCode } from '../codec/reason-codes';

/** Aliases the client set for topics it publishes to the broker. */
export class InboundAliases {
  private readonly topics: (string | undefined)[] = [];

  constructor(readonly maximum: number) {}

  /**
   * Resolves the topic of a PUBLISH with `alias` (0 when absent). Returns the topic, or an MQTT 5
   * reason code: 0x94 for an alias over the maximum, 0x82 for an empty topic with an unknown alias.
   */
  resolve(topic: string, alias: number): string | number {
    if (alias === 0) return topic.length > 0 ? topic : ReasonCode.ProtocolError;
    if (alias > this.maximum) return ReasonCode.TopicAliasInvalid;
    if (topic.length > 0) {
      this.topics[alias] = topic;
      return topic;
    }
    return this.topics[alias] ?? ReasonCode.ProtocolError;
  }
}

/** Aliases the broker assigns for topics it sends, up to the client's Topic Alias Maximum. */
export class OutboundAliases {
  private readonly aliases = new Map<string, number>();

  constructor(readonly maximum: number) {}

  /**
   * The alias for `topic`: `{alias, known}` where known means the client already has it (send an
   * empty topic). Returns alias 0 when every alias is taken (send the topic in full).
   */
  lookup(topic: string): { alias: number; known: boolean } {
    const existing = this.aliases.get(topic);
    if (existing !== undefined) return { alias: existing, known: true };
    if (this.aliases.size >= this.maximum) return { alias: 0, known: false };
    const alias = this.aliases.size + 1;
    this.aliases.set(topic, alias);
    return { alias, known: false };
  }

  /** Takes back an alias that was assigned but never sent (the packet was not written). */
  forget(topic: string): void {
    const alias = this.aliases.get(topic);
    if (alias === this.aliases.size) this.aliases.delete(topic);
  }
}
