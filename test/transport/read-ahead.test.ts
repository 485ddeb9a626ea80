/**
 * How far a paused socket reads ahead (src/transport/read-ahead.ts): Node's default lets a paused
 * socket go on reading small chunks until 16 KiB are buffered, each chunk a Buffer that waits out
 * the pause (and is promoted by the garbage collector). With the limit, a paused socket reads at
 * most one chunk more and the rest waits in the kernel; resumed, it delivers every byte in order.
 * Then the broker's own connections over tcp, tls, ws and wss: paused (here by a throttle) while
 * their client goes on publishing, they buffer at most one chunk, and nothing is lost.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { limitReadAhead } from '../../src/transport/read-ahead';
import { startBroker, type TestBroker } from '../helpers/broker';
import { connectionOf, connectVia, endClient, portOf, SERVER_PEM, sleep, T, TRANSPORTS, uid, until, type TransportKind } from './util';

/** Node's default readable high-water mark of a socket (what a paused socket buffers without the limit). */
const NODE_DEFAULT = 16 * 1024;

/**
 * A server socket paused after its first chunk while the client writes 100-byte pieces (5 per
 * millisecond) for `ms`: what it buffered, what it read while paused, and (resumed) every byte.
 */
async function pausedWhileSending(limited: boolean, ms: number): Promise<{ buffered: number; readWhilePaused: number; received: Buffer; sent: Buffer }> {
  const chunks: Buffer[] = [];
  let server!: net.Server;
  const accepted = new Promise<Socket>((resolve) => {
    server = net.createServer((s) => resolve(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect({ port, host: '127.0.0.1', noDelay: true });
  const s = await accepted;
  if (limited) assert.equal(limitReadAhead(s), true, 'limitReadAhead found no readable state');
  const first = new Promise<void>((resolve) => {
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (chunks.length === 1) {
        s.pause();
        resolve();
      }
    });
  });
  const sent: Buffer[] = [];
  let n = 0;
  const piece = (): Buffer => {
    const b = Buffer.alloc(100, n % 251);
    b.writeUInt32BE(n++, 0);
    sent.push(b);
    return b;
  };
  client.write(piece());
  await first;
  const timer = setInterval(() => {
    for (let i = 0; i < 5; i++) client.write(piece());
  }, 1);
  await sleep(ms / 2);
  const readAtHalf = s.bytesRead;
  await sleep(ms / 2);
  clearInterval(timer);
  const buffered = s.readableLength;
  const readWhilePaused = s.bytesRead - readAtHalf;
  const total = sent.reduce((a, b) => a + b.length, 0);
  s.resume();
  await until(() => chunks.reduce((a, b) => a + b.length, 0) >= total, () => `received ${chunks.reduce((a, b) => a + b.length, 0)} of ${total} bytes`, 10_000);
  client.destroy();
  s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return { buffered, readWhilePaused, received: Buffer.concat(chunks), sent: Buffer.concat(sent) };
}

describe('a paused socket', () => {
  test("without the limit (Node's default) it goes on reading until about 16 KiB are buffered", T, async () => {
    // The control: shows what the limit is for, and fails if Node stops reading ahead by itself.
    const r = await pausedWhileSending(false, 300);
    assert.ok(r.buffered >= NODE_DEFAULT, `buffered only ${r.buffered} bytes while paused`);
    assert.ok(r.received.equals(r.sent), 'bytes lost or reordered');
  });

  test('with the limit it reads at most one chunk more, stops, and delivers every byte in order once resumed', T, async () => {
    const r = await pausedWhileSending(true, 300);
    assert.ok(r.buffered < 4096, `buffered ${r.buffered} bytes while paused (one chunk of a few 100-byte writes expected)`);
    assert.equal(r.readWhilePaused, 0, 'went on reading from the kernel while paused');
    assert.ok(r.sent.length > 100_000, `the client sent only ${r.sent.length} bytes`);
    assert.ok(r.received.equals(r.sent), 'bytes lost or reordered');
  });
});

// ---- The broker's connections ----------------------------------------------------------------

let tb: TestBroker;
const clients: MqttClient[] = [];

before(async () => {
  tb = await startBroker({
    listeners: [
      { name: 'sub', type: 'tcp', host: '127.0.0.1', port: 0 },
      { name: 'tcp', type: 'tcp', host: '127.0.0.1', port: 0 },
      { name: 'tls', type: 'tls', host: '127.0.0.1', port: 0, ...SERVER_PEM },
      { name: 'ws', type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' },
      { name: 'wss', type: 'wss', host: '127.0.0.1', port: 0, path: '/mqtt', ...SERVER_PEM },
    ],
  });
});

after(async () => {
  await Promise.all(clients.map((c) => endClient(c, true)));
  await tb.stop();
});

/**
 * The stream the broker pauses for a connection: its TCP or TLS socket for tcp and tls, the TCP or
 * TLS socket under the WebSocket for ws and wss.
 */
function pausedStream(clientId: string): Readable {
  const conn = connectionOf(tb, clientId);
  assert.ok(conn, `no broker connection for ${clientId}`);
  const socket = (conn.transport as unknown as { socket?: Readable }).socket;
  assert.ok(socket, `no socket on the transport of ${clientId}`);
  return socket;
}

describe('broker connections', () => {
  for (const kind of TRANSPORTS) {
    test(`${kind}: a throttled publisher's socket buffers at most one chunk, and every message arrives after`, T, async () => {
      const sub = await connectVia('tcp', portOf(tb, 'sub'), { clientId: uid('sub') });
      clients.push(sub);
      const topic = `readahead/${uid(kind)}`;
      await sub.subscribeAsync(topic, { qos: 0 });
      let got = 0;
      let inOrder = true;
      sub.on('message', (_t, p) => {
        if (p.readUInt32BE(0) !== got) inOrder = false;
        got++;
      });
      const id = uid(`pub${kind}`);
      const pub = await connectVia(kind, portOf(tb, kind), { clientId: id });
      clients.push(pub);
      const stream = pausedStream(id);
      const conn = connectionOf(tb, id)!;
      // Stops reading for a while (TCP backpressure), as a rate limit, fair scheduling or a slow subscriber would.
      conn.throttle(600);
      let sent = 0;
      const timer = setInterval(() => {
        for (let i = 0; i < 5; i++) {
          const p = Buffer.alloc(100);
          p.writeUInt32BE(sent++, 0);
          pub.publish(topic, p, { qos: 0 });
        }
      }, 1);
      await sleep(400);
      const buffered = stream.readableLength;
      clearInterval(timer);
      assert.ok(sent > 500, `the client published only ${sent} messages`);
      assert.ok(buffered < 4096, `${kind}: ${buffered} bytes buffered in the paused socket (one chunk expected)`);
      await until(() => got === sent, () => `${kind}: ${got} of ${sent} messages arrived`, 10_000);
      assert.ok(inOrder, `${kind}: messages out of order`);
      await endClient(pub, true);
    });
  }
});
