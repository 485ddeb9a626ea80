/**
 * Graceful shutdown: broker.stop() closes every connection, tells MQTT 5 clients DISCONNECT 0x8B
 * (server shutting down), and accepts nothing afterwards (ARCHITECTURE.md section 6).
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient } from '../helpers/raw-client';
import { Harness, T, hx, persistentSession, uid, withTimeout } from './util';

const h = new Harness();
afterEach(() => h.stop().catch(() => undefined));

test('broker.stop() closes every client; MQTT 5 clients get DISCONNECT 0x8B with a Reason String, 3.1.1 clients are just closed', T, async () => {
  await h.start();
  const v4 = await h.client({ protocolVersion: 4 });
  const v4persistent = await h.client({ clientId: uid(), ...persistentSession(4, false) });
  const v5 = await h.client({ protocolVersion: 5 });
  const v5persistent = await h.client({ clientId: uid(), ...persistentSession(5, false) });
  await v5.subscribe('shutdown/#', { qos: 1 });
  const raw4 = await h.rawConnected(4);
  const raw5 = await h.rawConnected(5);

  await withTimeout(h.tb.stop(), 5000, 'broker.stop() with connected clients');

  for (const c of [v4, v4persistent, v5, v5persistent]) await c.waitClosed();
  await raw4.client.waitClosed();
  await raw5.client.waitClosed();
  for (const c of [v5, v5persistent]) {
    assert.equal(c.disconnect?.reasonCode, 0x8b, `DISCONNECT ${hx(c.disconnect?.reasonCode)}, expected 0x8b`);
  }
  for (const c of [v4, v4persistent]) assert.equal(c.disconnect, undefined, '3.1.1 has no server DISCONNECT');
  const d = raw5.pending.find((p) => p.type === 14);
  assert.ok(d && d.type === 14, 'the raw MQTT 5 client got no DISCONNECT');
  assert.equal(d.reasonCode, 0x8b);
  assert.ok(d.properties?.reasonString, 'no Reason String');
  assert.equal(raw4.pending.length, 0, 'a 3.1.1 client was sent something on shutdown');
});

test('broker.stop() also closes a socket that has not sent CONNECT yet', T, async () => {
  await h.start();
  const idle = await RawClient.open(h.port, 5);
  try {
    await withTimeout(h.tb.stop(), 5000, 'broker.stop() with a socket before CONNECT');
    await idle.waitClosed(2000);
  } finally {
    idle.close();
  }
});

test('after broker.stop() new connections are refused, and a second stop() resolves', T, async () => {
  await h.start();
  const port = h.port;
  await withTimeout(h.tb.stop(), 5000, 'broker.stop()');
  await withTimeout(h.tb.stop(), 1000, 'a second broker.stop()');
  await assert.rejects(RawClient.open(port, 5), /ECONNREFUSED/);
});
