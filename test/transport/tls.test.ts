/**
 * TLS client certificates on tls and wss listeners: `required` refuses a client without a
 * certificate and a certificate the CA does not vouch for, and lets the CA-signed one in with its
 * certificate visible to the broker; `optional` lets everyone in and says which certificates are
 * authorized; `none` never asks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import type { MqttClient } from 'mqtt';
import type { ClientCertificate } from '../../src/plugins/types';
import { startBroker, type TestBroker } from '../helpers/broker';
import {
  EventLog,
  SERVER_PEM,
  T,
  connectVia,
  connectionOf,
  endClient,
  listenerOf,
  portOf,
  PacketReader,
  connectBytes,
  publishBytes,
  tlsFile,
  uid,
  type TransportKind,
} from './util';
import type { ConnackPacket } from '../../src/codec/packets';

let tb: TestBroker;
let events: EventLog;
const clients: MqttClient[] = [];

before(async () => {
  tb = await startBroker({
    listeners: [
      { name: 'tcp', type: 'tcp', host: '127.0.0.1', port: 0 },
      { name: 'tls-required', type: 'tls', host: '127.0.0.1', port: 0, ...SERVER_PEM, clientCert: 'required' },
      { name: 'tls-optional', type: 'tls', host: '127.0.0.1', port: 0, ...SERVER_PEM, clientCert: 'optional' },
      { name: 'tls-none', type: 'tls', host: '127.0.0.1', port: 0, ...SERVER_PEM, clientCert: 'none' },
      { name: 'wss-required', type: 'wss', host: '127.0.0.1', port: 0, ...SERVER_PEM, clientCert: 'required' },
    ],
  });
  events = new EventLog(tb);
});

after(async () => {
  await Promise.all(clients.map((c) => endClient(c, true)));
  events.stop();
  await tb.stop();
});

const DEVICE = { cert: tlsFile('client.pem'), key: tlsFile('client.key') };
const ROGUE = { cert: tlsFile('rogue.pem'), key: tlsFile('rogue.key') };
const NO_CERT = {};

/** Connects through `listener`; resolves with the client id and the certificate the broker saw. */
async function admitted(kind: TransportKind, listener: string, creds: object): Promise<{ id: string; cert: ClientCertificate | undefined }> {
  const id = uid('cert');
  const client = await connectVia(kind, portOf(tb, listener), { clientId: id, ...creds });
  clients.push(client);
  const conn = connectionOf(tb, id);
  assert.ok(conn, `no broker connection for ${id}`);
  assert.equal(conn.transport.info.transport, kind);
  assert.equal(conn.transport.info.listener, listener);
  assert.equal(await events.connectedAddress(id), '127.0.0.1');
  return { id, cert: conn.transport.info.certificate };
}

/** The connection must fail before CONNACK, the listener count it, and no client.connected appear. */
async function refused(kind: TransportKind, listener: string, creds: object): Promise<void> {
  const id = uid('nocert');
  const l = listenerOf(tb, listener);
  const before = l.rejected;
  await assert.rejects(connectVia(kind, portOf(tb, listener), { clientId: id, ...creds }), `${listener} let ${id} in`);
  assert.ok(l.rejected > before, `${listener}: rejected count did not grow (${before} → ${l.rejected})`);
  assert.equal(events.of('client.connected', (e) => e.clientId === id).length, 0, 'refused client reported connected');
  assert.equal(connectionOf(tb, id), undefined);
}

function expectDevice(cert: ClientCertificate | undefined): void {
  assert.ok(cert, 'the broker saw no client certificate');
  const x = new X509Certificate(DEVICE.cert);
  assert.equal(cert.subject.CN, 'device-1');
  assert.equal(cert.subject.O, 'acme');
  assert.equal(cert.issuer.CN, 'Ratatosk Test CA');
  assert.ok(cert.subjectAltNames.includes('URI:urn:ratatosk:tenant:acme'), `SANs: ${cert.subjectAltNames.join(' | ')}`);
  assert.ok(cert.subjectAltNames.includes('DNS:device-1.acme.example'), `SANs: ${cert.subjectAltNames.join(' | ')}`);
  assert.equal(cert.authorized, true);
  assert.equal(cert.fingerprint256, x.fingerprint256);
  assert.equal(cert.serialNumber.toUpperCase(), x.serialNumber.toUpperCase());
}

describe("clientCert 'required'", () => {
  test('a client without a certificate is refused', T, () => refused('tls', 'tls-required', NO_CERT));
  test('a self-signed (rogue) certificate is refused', T, () => refused('tls', 'tls-required', ROGUE));
  test('the CA-signed client connects and the broker sees its certificate', T, async () => {
    const { cert } = await admitted('tls', 'tls-required', DEVICE);
    expectDevice(cert);
  });
  test('the CA-signed client can publish and subscribe over it', T, async () => {
    const id = uid('dev');
    const c = await connectVia('tls', portOf(tb, 'tls-required'), { clientId: id, ...DEVICE });
    clients.push(c);
    const topic = `tls/${id}`;
    await c.subscribeAsync(topic, { qos: 1 });
    const got = new Promise<Buffer>((resolve) => c.once('message', (_t, p) => resolve(p)));
    await c.publishAsync(topic, 'over mutual TLS', { qos: 1 });
    assert.equal((await got).toString(), 'over mutual TLS');
  });
  test('wss: no certificate is refused', T, () => refused('wss', 'wss-required', NO_CERT));
  test('wss: the CA-signed client connects and the broker sees its certificate', T, async () => {
    const { cert } = await admitted('wss', 'wss-required', DEVICE);
    expectDevice(cert);
  });
});

describe("clientCert 'optional'", () => {
  test('the rogue certificate connects, marked not authorized', T, async () => {
    const { cert } = await admitted('tls', 'tls-optional', ROGUE);
    assert.ok(cert, 'the broker saw no client certificate');
    assert.equal(cert.authorized, false);
    assert.equal(cert.subject.CN, 'rogue');
    assert.equal(cert.fingerprint256, new X509Certificate(ROGUE.cert).fingerprint256);
  });
  test('no certificate connects, with certificate undefined', T, async () => {
    const { cert } = await admitted('tls', 'tls-optional', NO_CERT);
    assert.equal(cert, undefined);
  });
  test('the CA-signed certificate connects, authorized', T, async () => {
    const { cert } = await admitted('tls', 'tls-optional', DEVICE);
    expectDevice(cert);
  });
});

describe("clientCert 'none'", () => {
  test('the broker does not ask: a client holding a certificate connects without presenting it', T, async () => {
    const { cert } = await admitted('tls', 'tls-none', DEVICE);
    assert.equal(cert, undefined);
  });
});

describe('server side', () => {
  test('every tls listener presents the localhost certificate signed by the test CA', T, async () => {
    for (const name of ['tls-required', 'tls-optional', 'tls-none']) {
      const peer = await new Promise<{ cn: string; authorized: boolean }>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: portOf(tb, name), ca: tlsFile('ca.pem'), ...DEVICE }, () => {
          const c = s.getPeerCertificate();
          resolve({ cn: String(c.subject.CN), authorized: s.authorized });
          s.destroy();
        });
        s.once('error', reject);
      });
      assert.deepEqual(peer, { cn: 'localhost', authorized: true }, name);
    }
  });
});

describe('a client that closes its side first', () => {
  test('gets its CONNACK and PUBACK before the broker closes, and its PUBLISH is delivered', T, async () => {
    const topic = `tls/halfclose/${uid('t')}`;
    const watch = await connectVia('tls', portOf(tb, 'tls-none'), { clientId: uid('w') });
    clients.push(watch);
    const got: string[] = [];
    watch.on('message', (t) => got.push(t));
    await watch.subscribeAsync(topic, { qos: 1 });
    const reader = new PacketReader(5);
    const s = tlsConnect({ host: '127.0.0.1', port: portOf(tb, 'tls-none'), ca: tlsFile('ca.pem'), servername: 'localhost' });
    s.on('data', (d: Buffer) => reader.push(d));
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    });
    s.end(Buffer.concat([connectBytes(uid('hc')), publishBytes(topic, Buffer.from('before FIN'), 1, 7)]));
    assert.equal(((await reader.expect(2, 5000)) as ConnackPacket).reasonCode, 0, 'CONNACK');
    assert.equal(((await reader.expect(4, 5000)) as { packetId: number }).packetId, 7, 'PUBACK');
    const deadline = Date.now() + 3000;
    while (!got.includes(topic) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(got.includes(topic), 'the PUBLISH sent before FIN was not delivered');
  });
});
