/**
 * Starts a real broker on loopback with free ports (port 0) for a test, and real MQTT.js clients.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Broker, type BrokerOptions } from '../../src/broker';
import { validateConfig } from '../../src/config/load';
import type { ConfigInput } from '../../src/config/schema';
import { createLogger } from '../../src/log';

export interface TestBroker {
  broker: Broker;
  port: number;
  url: string;
  stop(): Promise<void>;
}

export async function startBroker(overrides: Partial<ConfigInput> = {}, options: Partial<BrokerOptions> = {}): Promise<TestBroker> {
  const config = validateConfig({
    host: '127.0.0.1',
    mqttPort: 0,
    wsPort: 0,
    storage: 'memory',
    log: { level: 'silent' },
    ...overrides,
  });
  const broker = await Broker.start({ config, logger: createLogger(process.env.TEST_LOG ?? 'silent'), ...options });
  const port = broker.port('tcp');
  return { broker, port, url: `mqtt://127.0.0.1:${port}`, stop: () => broker.stop() };
}

/** A plain TCP and a WebSocket listener on free ports (tests of what only TCP connections can do). */
export function tcpAndWsListeners(): { type: 'tcp' | 'ws'; host: string; port: number }[] {
  return [
    { type: 'tcp', host: '127.0.0.1', port: 0 },
    { type: 'ws', host: '127.0.0.1', port: 0 },
  ];
}

let clientSeq = 0;

/** Connects an MQTT.js client and waits for CONNACK. Defaults: MQTT 5, no reconnect. */
export function connect(tb: { port: number }, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect({
    host: '127.0.0.1',
    port: tb.port,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId: `test-${process.pid}-${++clientSeq}`,
    ...opts,
  });
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      client.end(true);
      reject(err);
    };
    client.once('connect', () => {
      client.off('error', onError);
      resolve(client);
    });
    client.once('error', onError);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** Ends a client and waits until it is closed. */
export function end(client: MqttClient, force = false): Promise<void> {
  return new Promise((resolve) => client.end(force, {}, () => resolve()));
}

/** Collects messages a client receives, and waits for a number of them. */
export class Inbox {
  readonly messages: { topic: string; payload: Buffer; packet: import('mqtt').IPublishPacket }[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, packet });
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length >= w.n) {
          w.resolve();
          return false;
        }
        return true;
      });
    });
  }

  /** Waits until `n` messages in total have arrived (rejects after `ms`). */
  waitFor(n: number, ms = 3000): Promise<void> {
    if (this.messages.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { n, resolve };
      this.waiters.push(w);
      setTimeout(() => reject(new Error(`expected ${n} messages, got ${this.messages.length}`)), ms).unref();
    });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
