/**
 * PROXY protocol on real listeners: the test plays the load balancer and writes the header itself
 * over a raw socket (with the first MQTT bytes or the TLS ClientHello in the same write, and
 * separately), and the broker must report the proxied client address. A malformed header, or none on
 * a listener that requires one, closes that connection promptly, and only that one: a healthy
 * client on the same listener keeps being served.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { MqttClient } from 'mqtt';
import WebSocket from 'ws';
import type { ConnackPacket, PublishPacket } from '../../src/codec/packets';
import { startBroker, type TestBroker } from '../helpers/broker';
import { PROXY, TCP4, v1, v1Raw, v2, v2Local, v2Raw, SAMPLE_TLVS } from './proxy-headers';
import {
  EventLog,
  PacketReader,
  SERVER_PEM,
  T,
  connectBytes,
  connectionOf,
  endClient,
  expandIPv6,
  listenerOf,
  portOf,
  publishBytes,
  sleep,
  subscribeBytes,
  tlsFile,
  uid,
  within,
} from './util';

let tb: TestBroker;
let events: EventLog;
const sockets = new Set<{ destroy(): void }>();
const clients: MqttClient[] = [];

before(async () => {
  tb = await startBroker({
    listeners: [
      { name: 'tcp', type: 'tcp', host: '127.0.0.1', port: 0 },
      { name: 'p-v1', type: 'tcp', host: '127.0.0.1', port: 0, proxyProtocol: 'v1' },
      { name: 'p-v2', type: 'tcp', host: '127.0.0.1', port: 0, proxyProtocol: 'v2' },
      { name: 'p-auto', type: 'tcp', host: '127.0.0.1', port: 0, proxyProtocol: 'auto' },
      { name: 'p-tls-v2', type: 'tls', host: '127.0.0.1', port: 0, ...SERVER_PEM, proxyProtocol: 'v2' },
      { name: 'p-ws-v1', type: 'ws', host: '127.0.0.1', port: 0, proxyProtocol: 'v1' },
    ],
  });
  events = new EventLog(tb);
});

after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(clients.map((c) => endClient(c, true)));
  events.stop();
  await tb.stop();
});

// ---- Raw MQTT over any byte stream ---------------------------------------------------------

/** A raw MQTT client over a socket (plain or TLS) that the test has already put a header on. */
class Raw {
  readonly reader = new PacketReader(5);
  readonly closed: Promise<number>;

  constructor(readonly stream: Socket | TLSSocket) {
    sockets.add(stream);
    stream.on('data', (d: Buffer) => this.reader.push(d));
    stream.on('error', () => undefined);
    const opened = Date.now();
    this.closed = new Promise((resolve) =>
      stream.once('close', () => {
        sockets.delete(stream);
        this.reader.end();
        resolve(Date.now() - opened);
      }),
    );
  }

  write(b: Buffer): void {
    this.stream.write(b);
  }

  async connack(): Promise<void> {
    const p = await this.reader.next(2);
    if (!p) assert.fail('the broker closed the connection instead of answering CONNECT');
    assert.equal((p as ConnackPacket).reasonCode, 0);
  }

  /** Waits for the broker to close the connection without having answered anything. */
  async refused(ms = 1000): Promise<void> {
    await within(this.closed, ms, 'the broker closing the connection');
    assert.equal(this.reader.packets.length, 0, 'the broker answered a connection it should have refused');
  }
}

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.setNoDelay(true);
    s.once('error', reject);
  });
}

/** Sends `parts` as separate writes, with a pause between them so that they arrive apart. */
async function writeApart(s: Socket, ...parts: Buffer[]): Promise<void> {
  for (const [i, p] of parts.entries()) {
    if (i > 0) await sleep(25);
    s.write(p);
  }
}

/** Opens a raw MQTT connection through a PROXY listener: header and CONNECT together or apart. */
async function rawVia(listener: string, header: Buffer | undefined, mode: 'together' | 'apart' = 'together', clientId = uid('px')): Promise<{ raw: Raw; id: string }> {
  const s = await tcp(portOf(tb, listener));
  const raw = new Raw(s);
  const connect = connectBytes(clientId);
  if (!header) raw.write(connect);
  else if (mode === 'together') raw.write(Buffer.concat([header, connect]));
  else await writeApart(s, header, connect);
  return { raw, id: clientId };
}

/**
 * A socket-like stream that puts `header` in front of the first bytes written to it, in the same
 * write: a TLS client over it sends PROXY header + ClientHello as one segment.
 */
class HeaderFirst extends Duplex {
  private first = true;

  constructor(
    private readonly sock: Socket,
    private readonly header: Buffer,
  ) {
    super();
    sock.on('data', (d: Buffer) => {
      if (!this.push(d)) sock.pause();
    });
    sock.on('end', () => this.push(null));
    sock.on('error', (err) => this.destroy(err));
    sock.on('close', () => this.destroy());
  }

  override _read(): void {
    this.sock.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const out = this.first ? Buffer.concat([this.header, chunk]) : chunk;
    this.first = false;
    this.sock.write(out, cb);
  }

  override _final(cb: () => void): void {
    this.sock.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.sock.destroy();
    cb(err);
  }
}

/** TLS through a PROXY listener: the header in the same write as the ClientHello, or before it. */
async function tlsVia(listener: string, header: Buffer | undefined, mode: 'together' | 'apart'): Promise<TLSSocket> {
  const s = await tcp(portOf(tb, listener));
  sockets.add(s);
  let under: Duplex = s;
  if (header && mode === 'together') under = new HeaderFirst(s, header);
  else if (header) {
    // Apart: the header must be read by the broker before the ClientHello arrives. Under load the
    // two can still reach the broker in one read; a correct listener copes with both anyway.
    s.write(header);
    await sleep(50);
  }
  const t = tlsConnect({ socket: under, ca: tlsFile('ca.pem'), servername: 'localhost' });
  sockets.add(t);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      t.destroy();
      reject(new Error(`TLS handshake through ${listener} (PROXY header ${mode === 'together' ? 'in the same write' : 'first'}) not done within 3 s`));
    }, 3000);
    t.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(t);
    });
    t.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    t.once('close', () => {
      clearTimeout(timer);
      reject(new Error('TLS connection closed during the handshake'));
    });
  });
}

/**
 * A healthy MQTT.js client on a PROXY listener: its stream starts with a valid header. Over TLS the
 * header goes first and the handshake after it (the same-write case has a test of its own).
 */
async function healthy(listener: string, header: Buffer, secure = false): Promise<MqttClient> {
  const port = portOf(tb, listener);
  const tlsStream = secure ? await tlsVia(listener, header, 'apart') : undefined;
  const client = new MqttClient(
    () => {
      if (tlsStream) return tlsStream;
      const s = netConnect({ host: '127.0.0.1', port });
      s.write(header);
      return s;
    },
    { protocolVersion: 5, clientId: uid('ok'), reconnectPeriod: 0, connectTimeout: 3000 },
  );
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error(`${listener}: healthy client closed before CONNACK`)));
  });
  return client;
}

/** The healthy client still publishes to itself and receives it. */
async function stillWorks(client: MqttClient, what: string): Promise<void> {
  assert.ok(client.connected, `${what}: the healthy client was disconnected`);
  const topic = `alive/${uid('t')}`;
  await client.subscribeAsync(topic, { qos: 1 });
  const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
  await client.publishAsync(topic, what, { qos: 1 });
  assert.equal(await within(got, 3000, `${what}: the healthy client is no longer served`), what);
}

// ---- The proxied address ---------------------------------------------------------------------

describe('the broker reports the proxied address', () => {
  const cases: [string, string, Buffer, 'together' | 'apart', string, number][] = [
    ['v1 TCP4, header + CONNECT in one write', 'p-v1', v1('TCP4', '203.0.113.10', '10.0.0.1', 41000, 1883), 'together', '203.0.113.10', 41000],
    ['v1 TCP4, header then CONNECT', 'p-v1', v1('TCP4', '203.0.113.11', '10.0.0.1', 41001, 1883), 'apart', '203.0.113.11', 41001],
    ['v1 TCP6', 'p-v1', v1('TCP6', '2001:db8::10', '2001:db8::1', 41002, 1883), 'together', '2001:db8::10', 41002],
    ['v2 IPv4, header + CONNECT in one write', 'p-v2', v2('198.51.100.20', '10.0.0.1', 42000, 1883), 'together', '198.51.100.20', 42000],
    ['v2 IPv4, header then CONNECT', 'p-v2', v2('198.51.100.21', '10.0.0.1', 42001, 1883), 'apart', '198.51.100.21', 42001],
    ['v2 IPv4 with TLVs', 'p-v2', v2('198.51.100.22', '10.0.0.1', 42002, 1883, SAMPLE_TLVS), 'together', '198.51.100.22', 42002],
    ['v2 IPv6 with TLVs', 'p-v2', v2('2001:db8:5::22', '2001:db8::1', 42003, 1883, SAMPLE_TLVS), 'apart', '2001:db8:5::22', 42003],
    ['auto, v1 header', 'p-auto', v1('TCP4', '192.0.2.30', '10.0.0.1', 43000, 1883), 'together', '192.0.2.30', 43000],
    ['auto, v2 header', 'p-auto', v2('192.0.2.31', '10.0.0.1', 43001, 1883), 'apart', '192.0.2.31', 43001],
  ];
  for (const [name, listener, header, mode, address, port] of cases) {
    test(`${name}: ${address}`, T, async () => {
      const { raw, id } = await rawVia(listener, header, mode);
      await raw.connack();
      const reported = await events.connectedAddress(id);
      assert.equal(address.includes(':') ? expandIPv6(reported) : reported, address.includes(':') ? expandIPv6(address) : address);
      assert.equal(connectionOf(tb, id)?.transport.info.remotePort, port, 'proxied source port');
      raw.stream.destroy();
    });
  }

  test('v2 header split across two writes, the second carrying its end and CONNECT', T, async () => {
    const id = uid('px');
    const h = v2('198.51.100.23', '10.0.0.1', 42004, 1883);
    const s = await tcp(portOf(tb, 'p-v2'));
    const raw = new Raw(s);
    await writeApart(s, h.subarray(0, 10), Buffer.concat([h.subarray(10), connectBytes(id)]));
    await raw.connack();
    assert.equal(await events.connectedAddress(id), '198.51.100.23');
    s.destroy();
  });

  const ownAddress: [string, string, Buffer | undefined][] = [
    ['v1 UNKNOWN', 'p-v1', v1Raw('PROXY UNKNOWN')],
    ['v2 LOCAL (health check by the proxy)', 'p-v2', v2Local()],
    ['v2 PROXY with an UNSPEC family', 'p-v2', v2Raw({ command: PROXY, famProto: 0x00, body: Buffer.alloc(0) })],
    ['auto without a header', 'p-auto', undefined],
  ];
  for (const [name, listener, header] of ownAddress) {
    test(`${name}: the socket's own address`, T, async () => {
      const { raw, id } = await rawVia(listener, header);
      await raw.connack();
      assert.equal(await events.connectedAddress(id), '127.0.0.1');
      raw.stream.destroy();
    });
  }

  for (const mode of ['together', 'apart'] as const) {
    test(`tls with v2: header and TLS ClientHello ${mode === 'together' ? 'in the same write' : 'in separate writes'}`, T, async () => {
      const id = uid('ptls');
      const source = mode === 'together' ? '198.51.100.40' : '198.51.100.41';
      const t = await tlsVia('p-tls-v2', v2(source, '10.0.0.1', 44000, 8883), mode);
      const raw = new Raw(t);
      const topic = `ptls/${id}`;
      raw.write(Buffer.concat([connectBytes(id), subscribeBytes(1, topic, 0), publishBytes(topic, Buffer.from('via proxy+tls'), 0, undefined)]));
      await raw.connack();
      const pub = (await raw.reader.expect(3)) as PublishPacket;
      assert.equal(pub.payload.toString(), 'via proxy+tls');
      assert.equal(await events.connectedAddress(id), source);
      t.destroy();
    });
  }

  for (const mode of ['together', 'apart'] as const) {
    test(`ws with v1: header and HTTP upgrade request ${mode === 'together' ? 'in the same write' : 'in separate writes'}`, T, async () => {
      const id = uid('pws');
      const port = portOf(tb, 'p-ws-v1');
      const source = mode === 'together' ? '192.0.2.50' : '192.0.2.51';
      const header = v1('TCP4', source, '10.0.0.1', 45000, 80);
      const s = await tcp(port);
      sockets.add(s);
      let stream: Duplex = s;
      if (mode === 'together') stream = new HeaderFirst(s, header);
      else {
        s.write(header);
        await sleep(25);
      }
      const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt', { createConnection: () => stream as Socket });
      sockets.add({ destroy: () => ws.terminate() });
      const reader = new PacketReader(5);
      ws.on('message', (d: Buffer) => reader.push(d));
      await within(
        new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        }),
        3000,
        `WebSocket upgrade through p-ws-v1 (${mode})`,
      );
      ws.send(connectBytes(id));
      assert.equal(((await reader.expect(2)) as ConnackPacket).reasonCode, 0);
      assert.equal(await events.connectedAddress(id), source);
      ws.terminate();
    });
  }
});

// ---- Malformed or missing headers -----------------------------------------------------------

const GARBAGE = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');

describe('malformed headers close only that connection, promptly', () => {
  const good: Record<string, Buffer> = {
    'p-v1': v1('TCP4', '192.0.2.99', '10.0.0.1', 50000, 1883),
    'p-v2': v2('192.0.2.99', '10.0.0.1', 50000, 1883),
    'p-auto': v2('192.0.2.99', '10.0.0.1', 50000, 1883),
  };
  const bad: [string, string, Buffer | undefined][] = [
    ['p-v1', 'no header at all (plain CONNECT)', undefined],
    ['p-v1', 'HTTP garbage', GARBAGE],
    ['p-v1', 'a v2 header', v2('192.0.2.1', '10.0.0.1', 1, 2)],
    ['p-v1', 'a bad source address', v1Raw('PROXY TCP4 300.0.0.1 10.0.0.1 1 2')],
    ['p-v1', 'a bad port', v1Raw('PROXY TCP4 192.0.2.1 10.0.0.1 70000 2')],
    ['p-v1', 'over 107 bytes without CRLF', Buffer.from(`PROXY TCP4 ${'9'.repeat(120)}`)],
    ['p-v2', 'no header at all (plain CONNECT)', undefined],
    ['p-v2', 'HTTP garbage', GARBAGE],
    ['p-v2', 'a v1 header', v1('TCP4', '192.0.2.1', '10.0.0.1', 1, 2)],
    ['p-v2', 'version 1 in the version nibble', v2Raw({ version: 1, famProto: TCP4, body: Buffer.alloc(12) })],
    ['p-v2', 'an unknown command', v2Raw({ command: 7, famProto: TCP4, body: Buffer.alloc(12) })],
    ['p-v2', 'an unknown family', v2Raw({ famProto: 0x51, body: Buffer.alloc(12) })],
    ['p-v2', 'IPv4 addresses truncated', v2Raw({ famProto: TCP4, body: Buffer.alloc(6) })],
    ['p-auto', 'PROXY followed by garbage', v1Raw('PROXY HELLO WORLD')],
    ['p-auto', 'a v2 header of version 3', v2Raw({ version: 3, famProto: TCP4, body: Buffer.alloc(12) })],
  ];

  for (const listener of ['p-v1', 'p-v2', 'p-auto']) {
    test(`${listener}: each bad connection is closed within 1 s; a healthy client keeps working`, T, async () => {
      const ok = await healthy(listener, good[listener]!);
      const l = listenerOf(tb, listener);
      for (const [where, name, header] of bad) {
        if (where !== listener) continue;
        const before = l.rejected;
        const s = await tcp(l.port);
        const raw = new Raw(s);
        raw.write(header ? Buffer.concat([header, connectBytes(uid('bad'))]) : connectBytes(uid('bad')));
        await raw.refused(1000).catch((err: Error) => assert.fail(`${listener}, ${name}: ${err.message}`));
        assert.ok(l.rejected > before, `${listener}, ${name}: not counted as rejected`);
        await stillWorks(ok, `${listener} after ${name}`);
      }
    });
  }

  test('p-tls-v2: a ClientHello without header, or garbage, is closed; a healthy TLS client keeps working', T, async () => {
    const ok = await healthy('p-tls-v2', v2('192.0.2.98', '10.0.0.1', 50001, 8883), true);
    await assert.rejects(tlsVia('p-tls-v2', undefined, 'together'), 'TLS without a PROXY header got through');
    const s = await tcp(portOf(tb, 'p-tls-v2'));
    const raw = new Raw(s);
    raw.write(GARBAGE);
    await raw.refused(1000);
    await stillWorks(ok, 'p-tls-v2 after bad connections');
  });

  test('a v1 listener refuses a connection without a header', T, async () => {
    const { raw } = await rawVia('p-v1', undefined);
    await raw.refused(1000);
  });

  test('a truncated header then silence holds only its own socket (no CONNACK), others are served meanwhile', T, async () => {
    const ok = await healthy('p-v2', v2('192.0.2.97', '10.0.0.1', 50002, 1883));
    const stalled: Raw[] = [];
    for (const [listener, header] of [
      ['p-v2', v2('192.0.2.1', '10.0.0.1', 1, 2).subarray(0, 20)],
      ['p-v1', Buffer.from('PROXY TCP4 192.0.2.1 10.0.')],
    ] as const) {
      const s = await tcp(portOf(tb, listener));
      const raw = new Raw(s);
      raw.write(header);
      stalled.push(raw);
    }
    await stillWorks(ok, 'p-v2 while two headers hang');
    await sleep(200);
    for (const raw of stalled) {
      assert.equal(raw.reader.packets.length, 0, 'a connection with half a header got an answer');
      raw.stream.destroy();
    }
  });

  test('a header trickled a byte a second is cut off after 10 s, however long it keeps trickling', { timeout: 20_000 }, async () => {
    const s = await tcp(portOf(tb, 'p-v2'));
    const started = Date.now();
    const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now() - started)));
    const header = v2('192.0.2.1', '10.0.0.1', 1, 2);
    let i = 0;
    const trickle = setInterval(() => {
      if (i < header.length - 1) s.write(header.subarray(i, ++i));
    }, 1000);
    const ms = await Promise.race([closed, sleep(15_000).then(() => -1)]);
    clearInterval(trickle);
    s.destroy();
    assert.ok(ms > 9_000 && ms < 12_000, `closed after ${ms} ms (-1: still open after 15 s)`);
  });
});
