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
import { PrependedStream } from '../../src/transport/prepended-stream';
import { limitReadAhead } from '../../src/transport/read-ahead';
import { startBroker, type TestBroker } from '../helpers/broker';
import { connectionOf, connectVia, endClient, portOf, SERVER_PEM, sleep, T, TRANSPORTS, uid, until, type TransportKind } from './util';

/** Node's default readable high-water mark of a socket (what a paused socket buffers without the limit). */
const NODE_DEFAULT = 16 * 1024;

/** How the server side reads the accepted socket: the socket itself, or a stream over it. */
type Reader = (s: Socket) => Readable;

/**
 * A server socket (or a stream over it) paused after its first chunk while the client writes
 * 100-byte pieces, 5 at a time, until 64 KiB are out and at least `ms` have passed: what the socket
 * and the reader buffered, what the socket read from the kernel in the second half of the pause,
 * and (resumed) every byte.
 */
async function pausedWhileSending(reader: Reader, ms: number): Promise<{ socketBuffered: number; readerBuffered: number; readWhilePaused: number; received: Buffer; sent: Buffer }> {
  const chunks: Buffer[] = [];
  let server!: net.Server;
  const accepted = new Promise<Socket>((resolve) => {
    server = net.createServer((s) => resolve(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect({ port, host: '127.0.0.1', noDelay: true });
  let timer: NodeJS.Timeout | undefined;
  let s: Socket | undefined;
  try {
    s = await accepted;
    const r = reader(s);
    const first = new Promise<void>((resolve) => {
      r.on('data', (c: Buffer) => {
        chunks.push(c);
        if (chunks.length === 1) {
          r.pause();
          resolve();
        }
      });
    });
    const sent: Buffer[] = [];
    let bytes = 0;
    const piece = (): Buffer => {
      const b = Buffer.alloc(100, sent.length % 251);
      b.writeUInt32BE(sent.length, 0);
      sent.push(b);
      bytes += b.length;
      return b;
    };
    client.write(piece());
    await first;
    const started = Date.now();
    timer = setInterval(() => {
      if (bytes < 4 * NODE_DEFAULT) for (let i = 0; i < 5; i++) client.write(piece());
    }, 1);
    await until(() => bytes >= 4 * NODE_DEFAULT && Date.now() - started >= ms / 2, () => `the client wrote only ${bytes} bytes`, 10_000);
    const readAtHalf = s.bytesRead;
    await sleep(ms / 2);
    clearInterval(timer);
    const socketBuffered = s.readableLength;
    const readerBuffered = r === s ? socketBuffered : r.readableLength;
    const readWhilePaused = s.bytesRead - readAtHalf;
    r.resume();
    const got = (): number => chunks.reduce((a, b) => a + b.length, 0);
    await until(() => got() >= bytes, () => `received ${got()} of ${bytes} bytes`, 10_000);
    return { socketBuffered, readerBuffered, readWhilePaused, received: Buffer.concat(chunks), sent: Buffer.concat(sent) };
  } finally {
    if (timer) clearInterval(timer);
    client.destroy();
    s?.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

const asIs: Reader = (s) => s;
const limited: Reader = (s) => {
  assert.equal(limitReadAhead(s), true, 'limitReadAhead found no readable state');
  return s;
};

describe('a paused socket', () => {
  test("without the limit (Node's default) it goes on reading until about 16 KiB are buffered", T, async () => {
    // The control: shows what the limit is for, and fails if Node stops reading ahead by itself.
    const r = await pausedWhileSending(asIs, 300);
    assert.ok(r.socketBuffered >= NODE_DEFAULT, `buffered only ${r.socketBuffered} bytes while paused`);
    assert.ok(r.received.equals(r.sent), 'bytes lost or reordered');
  });

  test('with the limit it reads at most one chunk more, stops, and delivers every byte in order once resumed', T, async () => {
    const r = await pausedWhileSending(limited, 300);
    assert.ok(r.socketBuffered < 4096, `buffered ${r.socketBuffered} bytes while paused (one chunk of a few 100-byte writes expected)`);
    assert.equal(r.readWhilePaused, 0, 'went on reading from the kernel while paused');
    assert.ok(r.received.equals(r.sent), 'bytes lost or reordered');
  });

  test('behind a PROXY header (the stream that hands TLS what came with the header) neither it nor its socket reads ahead', T, async () => {
    const r = await pausedWhileSending((s) => new PrependedStream(s, Buffer.alloc(0)), 300);
    assert.ok(r.socketBuffered < 4096, `the socket buffered ${r.socketBuffered} bytes while paused`);
    assert.ok(r.readerBuffered < 4096, `the stream buffered ${r.readerBuffered} bytes while paused`);
    assert.equal(r.readWhilePaused, 0, 'went on reading from the kernel while paused');
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
      conn.throttle(2000);
      const throttled = Date.now();
      let sent = 0;
      let bytes = 0;
      const timer = setInterval(() => {
        if (bytes >= 4 * NODE_DEFAULT) return;
        for (let i = 0; i < 5; i++) {
          const p = Buffer.alloc(100);
          p.writeUInt32BE(sent++, 0);
          bytes += p.length;
          pub.publish(topic, p, { qos: 0 });
        }
      }, 1);
      let buffered: number;
      let readWhilePaused: number;
      try {
        await until(() => bytes >= 4 * NODE_DEFAULT && Date.now() - throttled >= 300, () => `the client published only ${sent} messages`, 5000);
        const readBefore = (stream as Socket).bytesRead;
        await sleep(200);
        assert.equal(stream.readableFlowing, false, `${kind}: the socket is not paused (measure within the throttle)`);
        buffered = stream.readableLength;
        readWhilePaused = (stream as Socket).bytesRead - readBefore;
      } finally {
        clearInterval(timer);
      }
      assert.equal(readWhilePaused, 0, `${kind}: the paused socket went on reading from the kernel`);
      assert.ok(buffered < 4096, `${kind}: ${buffered} bytes buffered in the paused socket (one chunk expected)`);
      await until(() => got === sent, () => `${kind}: ${got} of ${sent} messages arrived`, 10_000);
      assert.ok(inOrder, `${kind}: messages out of order`);
      await endClient(pub, true);
    });
  }
});
