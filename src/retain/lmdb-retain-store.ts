/**
 * Retained messages in LMDB ([tenant, topic] → record), with the whole set held in memory for
 * wildcard matching (loaded at start). Expired messages are removed by `sweep`.
 */
import { Message, type MessageProperties } from '../routing/message';
import type { LmdbEnv } from '../storage/lmdb-env';
import type { QoS } from '../codec/packets';
import { MemoryRetainStore } from './memory-retain-store';

interface RetainedRecord {
  payload: Buffer;
  qos: QoS;
  properties: MessageProperties | undefined;
  expiresAt: number;
  origin: string;
}

export class LmdbRetainStore extends MemoryRetainStore {
  constructor(
    private readonly env: LmdbEnv,
    private readonly onError: (err: unknown) => void,
  ) {
    super();
    for (const { key, value } of env.retained.getRange()) {
      const [tenantId, topic] = key as [string, string];
      const r = value as RetainedRecord;
      this.apply(tenantId, new Message(topic, r.payload, r.qos, true, r.properties, r.expiresAt, r.origin));
    }
  }

  override set(tenantId: string, msg: Message): Promise<void> {
    this.apply(tenantId, msg);
    const key = [tenantId, msg.topic];
    if (msg.payload.length === 0) return this.env.retained.remove(key).then(ok);
    const record: RetainedRecord = {
      payload: msg.payload,
      qos: msg.qos,
      properties: msg.properties,
      expiresAt: msg.expiresAt,
      origin: msg.origin,
    };
    return this.env.retained.put(key, record).then(ok);
  }

  protected override forget(tenantId: string, topic: string): void {
    this.env.retained.remove([tenantId, topic]).catch(this.onError);
  }

  override async close(): Promise<void> {
    await this.env.flushed();
  }
}

function ok(): void {}
