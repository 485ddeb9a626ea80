/**
 * Stopping the broker while connections are open on every listener type: stop() must finish
 * promptly, MQTT 5 clients must get DISCONNECT 0x8B (server shutting down) whatever transport they
 * use, and sockets still in a handshake (PROXY header, HTTP keep-alive, no CONNECT yet) must not
 * keep the broker from stopping. Each test stops its own broker.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import type { IDisconnectPacket, MqttClient } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker';
import { SERVER_PEM, T, TRANSPORTS, connectVia, endClient, portOf, within } from './util';

const LISTENERS = [
  { name: 'tcp', type: 'tcp', host: '127.0.0.1', port: 0 },
  { name: 'tls', type: 'tls', host: '127.0.0.1', port: 0, ...SERVER_PEM },
  { name: 'ws', type: 'ws', host: '127.0.0.1', port: 0 },
  { name: 'wss', type: 'wss', host: '127.0.0.1', port: 0, ...SERVER_PEM },
  { name: 'proxy', type: 'tcp', host: '127.0.0.1', port: 0, proxyProtocol: 'v2' },
] as const;

/** What a test leaves behind: closed here, so that a broker that cannot stop does not hang the run. */
let leftovers: { clients: MqttClient[]; sockets: Socket[]; stopping: Promise<void> | undefined } = { clients: [], sockets: [], stopping: undefined };

afterEach(async () => {
  for (const s of leftovers.sockets) s.destroy();
  await Promise.all(leftovers.clients.map((c) => endClient(c, true)));
  await leftovers.stopping?.catch(() => undefined);
  leftovers = { clients: [], sockets: [], stopping: undefined };
});

async function broker(): Promise<TestBroker> {
  return startBroker({ listeners: LISTENERS.map((l) => ({ ...l })) });
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
    leftovers.sockets.push(s);
  });
}

function closedPromise(s: Socket): Promise<void> {
  return s.destroyed ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));
}

describe('broker.stop() with open connections', () => {
  test('MQTT clients on tcp, tls, ws and wss: stop() finishes within 3 s, MQTT 5 clients get DISCONNECT 0x8B', T, async () => {
    const tb = await broker();
    const disconnects = new Map<string, IDisconnectPacket>();
    const closed: Promise<void>[] = [];
    for (const kind of TRANSPORTS) {
      for (const version of [4, 5] as const) {
        const c = await connectVia(kind, portOf(tb, kind), { protocolVersion: version });
        leftovers.clients.push(c);
        const label = `${kind}/v${version}`;
        c.on('disconnect', (p) => disconnects.set(label, p));
        closed.push(new Promise((r) => c.once('close', () => r())));
      }
    }
    leftovers.stopping = tb.stop();
    await within(leftovers.stopping, 3000, 'broker.stop() with MQTT clients connected');
    await within(Promise.all(closed), 2000, 'every client closed by the broker');
    for (const kind of TRANSPORTS) {
      const d = disconnects.get(`${kind}/v5`);
      assert.ok(d, `${kind}: the MQTT 5 client got no DISCONNECT`);
      assert.equal(d.reasonCode, 0x8b, `${kind}: DISCONNECT reason code`);
      assert.equal(disconnects.has(`${kind}/v4`), false, `${kind}: an MQTT 3.1.1 client got a DISCONNECT`);
    }
    await assert.rejects(connectVia('tcp', portOf(tb, 'tcp')), 'a new connection was accepted after stop()');
  });

  test('sockets in a handshake (PROXY header, idle HTTP, no CONNECT yet) do not hold stop() up', T, async () => {
    const tb = await broker();
    const halfHeader = await rawSocket(portOf(tb, 'proxy'));
    halfHeader.write(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00]));
    const noConnect = await rawSocket(portOf(tb, 'tcp'));
    // An HTTP request answered with 426 on a keep-alive connection that stays open.
    const idleHttp = await rawSocket(portOf(tb, 'ws'));
    idleHttp.write('GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    await new Promise((r) => idleHttp.once('data', r));
    leftovers.stopping = tb.stop();
    await within(leftovers.stopping, 3000, 'broker.stop() with sockets still in a handshake');
    await within(Promise.all([closedPromise(halfHeader), closedPromise(noConnect), closedPromise(idleHttp)]), 2000, 'handshaking sockets closed');
  });
});
