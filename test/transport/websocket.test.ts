/**
 * MQTT over WebSocket at the frame level, with the `ws` package as a raw client and hand-built MQTT
 * bytes: sub-protocol negotiation, packets split across frames and packed several to a frame, text
 * frames, the upgrade path, X-Forwarded-For, and the close code after DISCONNECT.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import WebSocket, { type ClientOptions } from 'ws';
import type { ConnackPacket, ProtocolVersion, PublishPacket, SubackPacket } from '../../src/codec/packets';
import { startBroker, type TestBroker } from '../helpers/broker';
import {
  EventLog,
  PacketReader,
  T,
  connectBytes,
  disconnectBytes,
  portOf,
  publishBytes,
  subscribeBytes,
  uid,
} from './util';

let tb: TestBroker;
let events: EventLog;
const open = new Set<WebSocket>();

before(async () => {
  tb = await startBroker({
    listeners: [
      { name: 'tcp', type: 'tcp', host: '127.0.0.1', port: 0 }, // startBroker asks for the tcp port
      { name: 'ws', type: 'ws', host: '127.0.0.1', port: 0 },
      { name: 'ws-trusted', type: 'ws', host: '127.0.0.1', port: 0, trustForwardedFor: true },
    ],
  });
  events = new EventLog(tb);
});

after(async () => {
  for (const ws of open) ws.terminate();
  events.stop();
  await tb.stop();
});

interface Closed {
  code: number;
  reason: string;
}

/** A raw WebSocket client that decodes the MQTT packets the broker sends. */
class WsProbe {
  readonly reader: PacketReader;
  readonly closed: Promise<Closed>;
  /** Binary messages received from the broker. */
  frames = 0;

  private constructor(
    readonly ws: WebSocket,
    version: ProtocolVersion,
  ) {
    this.reader = new PacketReader(version);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      assert.ok(isBinary, 'the broker must send binary frames only');
      this.frames++;
      this.reader.push(data);
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => {
        open.delete(ws);
        this.reader.end();
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  static open(port: number, protocols: string | string[] = 'mqtt', options: ClientOptions = {}, version: ProtocolVersion = 5, path = '/mqtt'): Promise<WsProbe> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, options);
    open.add(ws);
    const p = new WsProbe(ws, version);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(p));
      ws.once('error', reject);
    });
  }

  /** Each buffer as its own binary WebSocket message. */
  send(...frames: Buffer[]): void {
    for (const f of frames) this.ws.send(f, { binary: true });
  }

  async connack(): Promise<ConnackPacket> {
    const p = (await this.reader.expect(2)) as ConnackPacket;
    assert.equal(p.reasonCode, 0, 'CONNACK reason code');
    return p;
  }
}

/** Connects with a given client id and waits for CONNACK. */
async function connected(port: number, clientId = uid('w'), options: ClientOptions = {}, version: 4 | 5 = 5): Promise<WsProbe> {
  const p = await WsProbe.open(port, 'mqtt', options, version);
  p.send(connectBytes(clientId, version));
  await p.connack();
  return p;
}

/** What a raw client sends in the framing tests: CONNECT, SUBSCRIBE to a topic, PUBLISH QoS 1 to it. */
let scriptSeq = 0;
function script(payloadSize = 300): { bytes: Buffer; topic: string; payload: Buffer } {
  // Fixed-width ids: every script of one size has the same length (the split test relies on it).
  const n = `${process.pid}x${String(++scriptSeq).padStart(6, '0')}`;
  const topic = `ws/t${n}`;
  const payload = Buffer.alloc(payloadSize, 0xa5);
  payload.write('hello over frames');
  const bytes = Buffer.concat([connectBytes(`f${n}`), subscribeBytes(1, topic, 1), publishBytes(topic, payload, 1, 2)]);
  return { bytes, topic, payload };
}

/** The broker's answers to script(): CONNACK, SUBACK, PUBACK for packet 2, the PUBLISH back. */
async function expectAnswers(p: WsProbe, topic: string, payload: Buffer): Promise<void> {
  await p.connack();
  const suback = (await p.reader.expect(9)) as SubackPacket;
  assert.deepEqual(suback.reasonCodes, [1], 'SUBACK');
  const puback = await p.reader.expect(4);
  assert.equal((puback as { packetId: number }).packetId, 2, 'PUBACK packet id');
  const pub = (await p.reader.expect(3)) as PublishPacket;
  assert.equal(pub.topic, topic);
  assert.equal(pub.qos, 1);
  assert.ok(pub.payload.equals(payload), 'payload delivered intact');
}

function chunks(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

describe('sub-protocol negotiation', () => {
  test("[MQTT-6.0.0-4] offered 'mqtt': the broker selects 'mqtt', and MQTT 5 works over it", T, async () => {
    const p = await WsProbe.open(portOf(tb, 'ws'), 'mqtt');
    assert.equal(p.ws.protocol, 'mqtt');
    p.send(connectBytes(uid('w'), 5));
    await p.connack();
    p.ws.close();
  });

  test("offered 'mqttv3.1' (what MQTT 3.1 clients send): the broker selects it, and MQTT 3.1 works over it", T, async () => {
    const p = await WsProbe.open(portOf(tb, 'ws'), 'mqttv3.1', {}, 3);
    assert.equal(p.ws.protocol, 'mqttv3.1');
    p.send(connectBytes(uid('w'), 3));
    const ack = (await p.reader.expect(2)) as ConnackPacket;
    assert.equal(ack.reasonCode, 0, 'MQTT 3.1 CONNACK return code');
    p.ws.close();
  });

  test("offered both: the broker selects one of them", T, async () => {
    const p = await WsProbe.open(portOf(tb, 'ws'), ['mqttv3.1', 'mqtt']);
    assert.ok(['mqtt', 'mqttv3.1'].includes(p.ws.protocol), `selected '${p.ws.protocol}'`);
    p.ws.close();
  });

  test("offered only a foreign sub-protocol: the broker never selects it", T, async () => {
    let selected: string | undefined;
    try {
      const p = await WsProbe.open(portOf(tb, 'ws'), 'chat');
      selected = p.ws.protocol;
      p.ws.close();
    } catch {
      // The ws client refuses an upgrade that selected none of the offered protocols: fine.
      return;
    }
    assert.notEqual(selected, 'chat');
  });
});

describe('MQTT packets and WebSocket frames are independent', () => {
  test('[MQTT-6.0.0-2] CONNECT + SUBSCRIBE + PUBLISH sent one byte per frame', T, async () => {
    const { bytes, topic, payload } = script();
    const p = await WsProbe.open(portOf(tb, 'ws'));
    p.send(...chunks(bytes, 1));
    await expectAnswers(p, topic, payload);
    p.ws.close();
  });

  test('frames of 7 bytes: boundaries inside fixed headers, two-byte remaining lengths, topics and payloads', T, async () => {
    const { bytes, topic, payload } = script(300);
    const p = await WsProbe.open(portOf(tb, 'ws'));
    p.send(...chunks(bytes, 7));
    await expectAnswers(p, topic, payload);
    p.ws.close();
  });

  test('two frames, split at every byte of the three packets', T, async () => {
    const { bytes: sample } = script(20);
    const tasks: Promise<void>[] = [];
    for (let i = 1; i < sample.length; i++) {
      tasks.push(
        (async () => {
          const { bytes, topic, payload } = script(20);
          assert.equal(bytes.length, sample.length);
          const p = await WsProbe.open(portOf(tb, 'ws'));
          p.send(bytes.subarray(0, i), bytes.subarray(i));
          await expectAnswers(p, topic, payload);
          p.ws.close();
          await p.closed;
        })(),
      );
      if (tasks.length >= 16) await Promise.all(tasks.splice(0));
    }
    await Promise.all(tasks);
  });

  test('several packets packed in one frame (CONNECT, SUBSCRIBE, PUBLISH, PINGREQ)', T, async () => {
    const { bytes, topic, payload } = script();
    const p = await WsProbe.open(portOf(tb, 'ws'));
    p.send(Buffer.concat([bytes, Buffer.from([0xc0, 0x00])]));
    await expectAnswers(p, topic, payload);
    await p.reader.expect(13); // PINGRESP
    p.ws.close();
  });

  test('packets straddling frames: the tail of one and the head of the next in the same frame', T, async () => {
    const { bytes, topic, payload } = script(500);
    const p = await WsProbe.open(portOf(tb, 'ws'));
    // Cut points chosen so that every frame but the first ends inside a packet.
    const c1 = connectBytes('x').length + 5;
    p.send(bytes.subarray(0, c1), bytes.subarray(c1, c1 + 30), bytes.subarray(c1 + 30));
    await expectAnswers(p, topic, payload);
    p.ws.close();
  });

  test('one MQTT packet in one WebSocket message sent as several continuation frames', T, async () => {
    const { bytes, topic, payload } = script(2000);
    const p = await WsProbe.open(portOf(tb, 'ws'));
    const parts = chunks(bytes, 400);
    parts.forEach((part, i) => p.ws.send(part, { binary: true, fin: i === parts.length - 1 }));
    await expectAnswers(p, topic, payload);
    p.ws.close();
  });

  test('a 200 KB PUBLISH sent in 1 KB frames arrives whole', T, async () => {
    const { bytes, topic, payload } = script(200_000);
    const p = await WsProbe.open(portOf(tb, 'ws'));
    p.send(...chunks(bytes, 1024));
    await expectAnswers(p, topic, payload);
    p.ws.close();
  });
});

describe('frames and paths the broker refuses', () => {
  test('[MQTT-6.0.0-1] a text frame closes the connection with 1003 (unsupported data)', T, async () => {
    const p = await connected(portOf(tb, 'ws'));
    p.ws.send('not binary');
    const c = await p.closed;
    assert.equal(c.code, 1003);
  });

  test('[MQTT-6.0.0-1] after a text frame nothing the client sends is read: a PUBLISH right behind it is not delivered', T, async () => {
    const topic = `ws/text/${uid('t')}`;
    const sub = await connected(portOf(tb, 'ws'));
    sub.send(subscribeBytes(1, topic, 0));
    await sub.reader.expect(9);
    const p = await connected(portOf(tb, 'ws'));
    p.ws.send('not binary');
    p.send(publishBytes(topic, Buffer.from('after the text frame'), 0, undefined));
    assert.equal((await p.closed).code, 1003);
    assert.equal(await sub.reader.next(3, 500).catch(() => undefined), undefined, 'the PUBLISH behind the text frame was delivered');
    sub.ws.close();
  });

  test('a message larger than any packet allowed (1 MB + 64 KB here) closes with 1009 before it is read whole', T, async () => {
    const p = await WsProbe.open(portOf(tb, 'ws'));
    p.send(Buffer.alloc(1024 * 1024 + 64 * 1024 + 1, 0x30));
    assert.equal((await p.closed).code, 1009);
  });

  test('an upgrade request trickled a header line a second is cut off after 10 s', { timeout: 20_000 }, async () => {
    const s: Socket = await new Promise((resolve, reject) => {
      const sock = netConnect({ host: '127.0.0.1', port: portOf(tb, 'ws') }, () => resolve(sock));
      sock.once('error', reject);
    });
    const started = Date.now();
    const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now() - started)));
    s.on('error', () => undefined);
    s.write('GET /mqtt HTTP/1.1\r\n');
    let n = 0;
    const trickle = setInterval(() => s.write(`X-Slow-${n++}: 1\r\n`), 1000);
    const ms = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 15_000))]);
    clearInterval(trickle);
    s.destroy();
    assert.ok(ms > 9_000 && ms < 12_000, `closed after ${ms} ms (-1: still open after 15 s)`);
  });

  test('a text frame before CONNECT closes with 1003 too', T, async () => {
    const p = await WsProbe.open(portOf(tb, 'ws'));
    p.ws.send(connectBytes(uid('w')).toString('latin1'));
    const c = await p.closed;
    assert.equal(c.code, 1003);
    assert.equal(p.reader.packets.length, 0, 'no CONNACK for a CONNECT in a text frame');
  });

  for (const path of ['/', '/mqtt/', '/other', '/MQTT']) {
    test(`upgrade on the wrong path ${path}: 404, no WebSocket`, T, async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${portOf(tb, 'ws')}${path}`, 'mqtt');
      open.add(ws);
      const status = await new Promise<number | string>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => resolve('opened'));
        ws.once('error', (err) => resolve(`error: ${err.message}`));
      });
      assert.equal(status, 404);
      ws.terminate();
    });
  }

  test('the right path with a query string is accepted', T, async () => {
    const p = await WsProbe.open(portOf(tb, 'ws'), 'mqtt', {}, 5, '/mqtt?token=abc');
    p.send(connectBytes(uid('w')));
    await p.connack();
    p.ws.close();
  });

  test('plain HTTP without upgrade: 426 Upgrade Required', T, async () => {
    const status = await new Promise<number>((resolve, reject) => {
      // No keep-alive agent: an idle HTTP connection would outlive the test.
      const req = request({ host: '127.0.0.1', port: portOf(tb, 'ws'), path: '/mqtt', agent: false }, (res) => {
        res.resume();
        res.socket.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', reject);
      req.end();
    });
    assert.equal(status, 426);
  });
});

describe('X-Forwarded-For', () => {
  const cases: [string, string, Record<string, string>, string][] = [
    ['ignored without trustForwardedFor', 'ws', { 'X-Forwarded-For': '203.0.113.50' }, '127.0.0.1'],
    ['honoured with trustForwardedFor', 'ws-trusted', { 'X-Forwarded-For': '203.0.113.50' }, '203.0.113.50'],
    ['with a chain of proxies, the first (client) address is taken', 'ws-trusted', { 'X-Forwarded-For': '198.51.100.7, 10.0.0.2, 10.0.0.3' }, '198.51.100.7'],
    ['an IPv6 client address', 'ws-trusted', { 'X-Forwarded-For': '2001:db8::42' }, '2001:db8::42'],
    ['trusted listener, no header: the socket address', 'ws-trusted', {}, '127.0.0.1'],
    ['trusted listener, a first entry that is not an address: the socket address', 'ws-trusted', { 'X-Forwarded-For': 'not-an-ip, 10.0.0.2' }, '127.0.0.1'],
  ];
  for (const [name, listener, headers, address] of cases) {
    test(`${name} (client.connected event address)`, T, async () => {
      const id = uid('xff');
      const p = await connected(portOf(tb, listener), id, { headers });
      assert.equal(await events.connectedAddress(id), address);
      p.ws.close();
    });
  }
});

describe('closing', () => {
  for (const version of [4, 5] as const) {
    test(`after an MQTT ${version === 5 ? '5' : '3.1.1'} DISCONNECT the broker closes cleanly with 1000`, T, async () => {
      const id = uid('bye');
      const p = await connected(portOf(tb, 'ws'), id, {}, version);
      p.send(disconnectBytes(version));
      const c = await p.closed;
      assert.equal(c.code, 1000, `close code ${c.code} ${c.reason}`);
      const gone = await events.waitFor('client.disconnected', (e) => e.clientId === id);
      assert.equal(gone.by, 'client');
    });
  }

  test('a client that closes the WebSocket without DISCONNECT is seen as gone by the network', T, async () => {
    const id = uid('drop');
    const p = await connected(portOf(tb, 'ws'), id);
    p.ws.close(1001);
    await p.closed;
    const gone = await events.waitFor('client.disconnected', (e) => e.clientId === id);
    assert.equal(gone.by, 'network');
  });
});
