/**
 * Tenants served by the broker's background process (`background.tenants`): their plain-TCP
 * connections are handed over after authentication, and the tenant lives wholly in that process.
 * Real broker, real child process, real sockets and MQTT.js clients.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { encodePacket } from '../../src/codec/encoder';
import type { Packet } from '../../src/codec/packets';
import type { TimedEvent } from '../../src/plugins/event-bus';
import { validateConfig } from '../../src/config/load';
import { connect, end, Inbox, sleep, startBroker, tcpAndWsListeners, type TestBroker } from '../helpers/broker';
import { RawClient } from '../helpers/raw-client';
import { clientFinal } from '../../examples/plugins/scram-auth';
import { scramReauth, SCRAM, start as startAuthBroker } from '../auth-e2e/helpers';

const T = { timeout: 30_000 };

/** The scheduling policy of a process (/proc/<pid>/stat field 41): 5 is SCHED_IDLE. */
function schedulingPolicy(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[41 - 3]);
}

/** Background processes forked by this process (children whose command runs background-main.js). */
function backgroundChildren(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('background-main')) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Whether a process has a handler for `signal` (/proc/<pid>/status SigCgt). */
function catches(pid: number, signal: number): boolean {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('SigCgt:'));
    return line !== undefined && (BigInt(`0x${line.slice(7).trim()}`) & (1n << BigInt(signal - 1))) !== 0n;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

describe('a tenant served by the background process', () => {
  let tb: TestBroker;
  const events: TimedEvent[] = [];
  before(async () => {
    const listeners = tcpAndWsListeners();
    tb = await startBroker({ listeners, background: { tenants: ['bulk'], restartSeconds: 1 } }, { eventCollectors: [{ report: (e) => void events.push(e) }] });
  });
  after(() => tb.stop());

  test('runs in a SCHED_IDLE child process, and its connections are counted there, not in the broker', T, async () => {
    const pid = tb.broker.background!.pid!;
    assert.ok(pid > 0 && pid !== process.pid);
    assert.equal(schedulingPolicy(pid), 5, 'the background process is not SCHED_IDLE');
    assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--single-threaded-gc'), 'its garbage collection has helper threads');
    const c = await connect(tb, { username: 'bulk/u1' });
    const other = await connect(tb, { username: 'light/u1' });
    const stats = await tb.broker.background!.connections();
    assert.equal(stats.pid, pid);
    assert.equal(stats.connections['bulk'], 1);
    assert.deepEqual(tb.broker.connectionsByTenant(), { light: 1 });
    await end(c);
    await end(other);
    await eventually(async () => (await tb.broker.background!.connections()).connections['bulk'] === undefined, 'the background connection to close');
  });

  test('publish and subscribe work for it, and its messages never reach another tenant on the same topic', T, async () => {
    const sub = await connect(tb, { username: 'bulk/s' });
    const outsider = await connect(tb, { username: 'light/s' });
    await sub.subscribeAsync('iso/#', { qos: 1 });
    await outsider.subscribeAsync('iso/#', { qos: 1 });
    const subInbox = new Inbox(sub);
    const outsiderInbox = new Inbox(outsider);
    const pub = await connect(tb, { username: 'bulk/p', protocolVersion: 4 });
    const lightPub = await connect(tb, { username: 'light/p' });
    for (let i = 0; i < 50; i++) await pub.publishAsync('iso/x', `bulk-${i}`, { qos: 1 });
    await lightPub.publishAsync('iso/x', 'light-0', { qos: 1 });
    await subInbox.waitFor(50);
    await outsiderInbox.waitFor(1);
    await sleep(100);
    assert.deepEqual(subInbox.messages.map((m) => m.payload.toString()), Array.from({ length: 50 }, (_, i) => `bulk-${i}`));
    assert.deepEqual(outsiderInbox.messages.map((m) => m.payload.toString()), ['light-0']);
    for (const c of [sub, outsider, pub, lightPub]) await end(c);
  });

  test('what a client sends right behind its CONNECT is handled there, in order', T, async () => {
    const raw = await RawClient.open(tb.port, 4);
    const packets: Packet[] = [
      { type: 1, protocolName: 'MQTT', protocolVersion: 4, cleanStart: true, keepAlive: 30, clientId: 'pipelined', username: 'bulk/raw' },
      { type: 8, packetId: 1, subscriptions: [{ filter: 'pipe/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] },
      { type: 3, topic: 'pipe/a', payload: Buffer.from('one'), qos: 1, packetId: 2, retain: false, dup: false } as Packet,
      { type: 3, topic: 'pipe/b', payload: Buffer.alloc(100_000, 7), qos: 0, retain: true, dup: false } as Packet,
      { type: 12 } as Packet,
    ];
    raw.write(Buffer.concat(packets.map((p) => encodePacket(p, 4))));
    assert.ok(await raw.next(13), 'no PINGRESP');
    // Everything came back, in the order the packets were handled: CONNACK, SUBACK, then the two
    // messages in the order they were published, PINGRESP last (the PUBACK may come anywhere after SUBACK).
    const order = raw.packets.map((p) => (p.type === 3 ? (p as { topic: string }).topic : p.type)).filter((x) => x !== 4);
    raw.packets.length = 0;
    assert.deepEqual(order, [2, 9, 'pipe/a', 'pipe/b']);
    raw.close();
    // The retained message is the background tenant's: a client of it sees it, another tenant does not.
    const late = await connect(tb, { username: 'bulk/late' });
    const lateInbox = new Inbox(late);
    await late.subscribeAsync('pipe/b');
    await lateInbox.waitFor(1);
    const outsider = await connect(tb, { username: 'light/late' });
    const outsiderInbox = new Inbox(outsider);
    await outsider.subscribeAsync('pipe/b');
    await sleep(200);
    assert.equal(outsiderInbox.messages.length, 0);
    await end(late);
    await end(outsider);
  });

  test('a CONNECT that arrives in pieces, with its packets split across writes, is handled there whole', T, async () => {
    const raw = await RawClient.open(tb.port, 5);
    const stream = Buffer.concat([
      encodePacket({ type: 1, protocolName: 'MQTT', protocolVersion: 5, cleanStart: true, keepAlive: 30, clientId: 'pieces', username: 'bulk/pieces' }, 5),
      encodePacket({ type: 8, packetId: 1, subscriptions: [{ filter: 'pieces/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 5),
      ...Array.from({ length: 20 }, (_, i) => encodePacket({ type: 3, topic: 'pieces/x', payload: Buffer.alloc(3000, i), qos: 1, packetId: 10 + i, retain: false, dup: false }, 5)),
    ]);
    // Odd-sized writes a few milliseconds apart: the handoff finds packets decoded, begun and unread.
    for (let at = 0; at < stream.length; at += 4099) {
      raw.write(stream.subarray(at, at + 4099));
      await sleep(2);
    }
    const got: number[] = [];
    for (let i = 0; i < 20; i++) got.push(((await raw.next(3, 5000)) as { payload: Buffer }).payload[0]!);
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
    raw.close();
  });

  test('a client that sends CONNECT (with a will) and a PUBLISH and closes its side at once: both are handled there, then the connection ends and the will goes out', T, async () => {
    const watcher = await connect(tb, { username: 'bulk/watch' });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('fin/#', { qos: 1 });
    for (let round = 0; round < 5; round++) {
      const raw = await RawClient.open(tb.port, 4);
      raw.write(
        Buffer.concat([
          encodePacket({ type: 1, protocolName: 'MQTT', protocolVersion: 4, cleanStart: true, keepAlive: 60, clientId: `fin-${round}`, username: 'bulk/fin', will: { topic: 'fin/will', payload: Buffer.from(`will-${round}`), qos: 1, retain: false } }, 4),
          encodePacket({ type: 3, topic: 'fin/data', payload: Buffer.from(`data-${round}`), qos: 1, packetId: 1, retain: false, dup: false }, 4),
        ]),
      );
      raw.socket.end();
      assert.equal(((await raw.next(2)) as { reasonCode: number }).reasonCode, 0);
      assert.ok(await raw.next(4), 'no PUBACK');
      // Ended by the broker long before the 60 s keepalive would.
      await raw.waitClosed(3000);
    }
    await inbox.waitFor(10, 5000);
    const got = inbox.messages.map((m) => m.payload.toString()).sort();
    assert.deepEqual(got, [0, 1, 2, 3, 4].flatMap((r) => [`data-${r}`, `will-${r}`]).sort());
    await end(watcher);
  });

  test('a burst of 1,500 connects of it is served, none refused', T, async () => {
    const raws = await Promise.all(Array.from({ length: 1500 }, () => RawClient.open(tb.port, 4)));
    raws.forEach((r, i) => r.send({ type: 1, protocolName: 'MQTT', protocolVersion: 4, cleanStart: true, keepAlive: 60, clientId: `burst-${i}`, username: 'bulk/burst' }, 4));
    const codes = await Promise.all(raws.map(async (r) => ((await r.next(2, 20_000)) as { reasonCode: number } | undefined)?.reasonCode));
    for (const r of raws) r.close();
    assert.deepEqual([...new Set(codes)], [0]);
  });

  test("its events reach the broker's collectors", T, async () => {
    const c = await connect(tb, { username: 'bulk/ev', clientId: 'bulk-events' });
    await end(c);
    await eventually(() => events.some((e) => e.type === 'client.disconnected' && e.tenantId === 'bulk' && e.clientId === 'bulk-events'), 'client.disconnected from the background process');
    assert.ok(events.some((e) => e.type === 'client.connected' && e.tenantId === 'bulk' && e.clientId === 'bulk-events'));
  });

  test('a WebSocket client of it is refused with 0x88 and a reason (only plain TCP sockets change process)', T, async () => {
    const ws = mqtt.connect(`ws://127.0.0.1:${tb.broker.port('ws')}/mqtt`, { username: 'bulk/ws', protocolVersion: 5, reconnectPeriod: 0 });
    let reason: string | undefined;
    ws.on('packetreceive', (p) => {
      if (p.cmd === 'connack') reason = p.properties?.reasonString;
    });
    const err = await new Promise<Error & { code?: number }>((resolve) => ws.once('error', resolve));
    ws.end(true);
    assert.equal(err.code, 0x88);
    assert.match(reason ?? '', /plain TCP/);
    const refused = events.find((e) => e.type === 'client.refused' && e.reasonCode === 0x88);
    assert.equal(refused?.type === 'client.refused' ? refused.tenantId : undefined, 'bulk', 'the refusal event names no tenant');
  });

  test('when it dies, its clients are cut, others go on, new ones get 0x88 until it is back, then work again', T, async () => {
    const bg = tb.broker.background!;
    const pid = bg.pid!;
    const victim = await connect(tb, { username: 'bulk/v' });
    const bystander = await connect(tb, { username: 'light/b' });
    const victimClosed = new Promise<void>((resolve) => victim.once('close', () => resolve()));
    process.kill(pid, 'SIGKILL');
    await victimClosed;
    // One that comes while its death is being noticed is closed (a socket on its way is never left open)...
    const racing = await connect(tb, { username: 'bulk/racing' }).then(
      (c) => {
        c.end(true);
        return 'connected';
      },
      (e: Error & { code?: number }) => (e.code === 0x88 ? 'refused' : 'closed'),
    );
    assert.notEqual(racing, 'connected');
    // ...and once it is noticed, refused with 0x88 until the process is back.
    await eventually(() => bg.pid === undefined, 'the broker to notice');
    const refused = await connect(tb, { username: 'bulk/again' }).then(
      (c) => {
        c.end(true);
        return undefined;
      },
      (e: Error & { code?: number }) => e,
    );
    assert.equal(refused?.code, 0x88, 'a client of the tenant got in while the background process was down');
    await bystander.publishAsync('still/here', 'x', { qos: 1 });
    assert.equal(bystander.connected, true);
    await eventually(() => bg.pid !== undefined && bg.pid !== pid, 'the background process to come back', 10_000);
    assert.equal(schedulingPolicy(bg.pid!), 5);
    const back = await connect(tb, { username: 'bulk/back' });
    await back.publishAsync('t', 'y', { qos: 1 });
    await end(back);
    await end(bystander);
  });

  test('a restart that dies before it is ready is tried again', T, async () => {
    const bg = tb.broker.background!;
    const starts = bg.starts;
    process.kill(bg.pid!, 'SIGKILL');
    await eventually(() => bg.starts === starts + 1, 'the restart to begin', 5000);
    const starting = (bg as unknown as { child: { pid: number } }).child.pid;
    assert.equal(bg.pid, undefined, 'the restarted process was ready before it could be killed');
    process.kill(starting, 'SIGKILL');
    await eventually(() => bg.pid !== undefined && bg.starts >= starts + 2, 'a further restart', 10_000);
    const c = await connect(tb, { username: 'bulk/after' });
    await end(c);
  });

  test('a hang-up (a closed terminal) stops it gracefully: its clients get DISCONNECT 0x8B, then it is started again', T, async () => {
    const bg = tb.broker.background!;
    const c = await connect(tb, { username: 'bulk/hup' });
    const disconnect = new Promise<number>((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode ?? 0)));
    const pid = bg.pid!;
    process.kill(pid, 'SIGHUP');
    assert.equal(await disconnect, 0x8b);
    c.end(true);
    await eventually(() => bg.pid !== undefined && bg.pid !== pid, 'the restart', 10_000);
  });
});

describe('a background process that does not take its connections (stopped)', () => {
  test("the broker closes its copies after 10 s, so its descriptors are not used up; each client is answered or closed, and it serves again once it runs", { timeout: 40_000 }, async () => {
    const tb = await startBroker({ background: { tenants: ['bulk'] } });
    const pid = tb.broker.background!.pid!;
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    process.kill(pid, 'SIGSTOP');
    const raws: RawClient[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const raw = await RawClient.open(tb.port, 4);
        raw.send({ type: 1, protocolName: 'MQTT', protocolVersion: 4, cleanStart: true, keepAlive: 60, clientId: `stopped-${i}`, username: 'bulk/s' }, 4);
        raws.push(raw);
      }
      const bg = tb.broker.background!;
      await eventually(() => bg.handing === 20, 'twenty sockets on their way');
      // Our 20 client sockets and the broker's 20 copies.
      assert.ok(fds() >= before + 40, `descriptors: ${fds()} (before: ${before})`);
      await eventually(() => bg.handing === 0, 'the copies to be closed', 15_000);
      assert.ok(fds() <= before + 22, `descriptors still held: ${fds()} (before: ${before})`);
      process.kill(pid, 'SIGCONT');
      // The first socket's message was in the channel and is taken; those still queued behind it in the
      // broker were closed with its copies (their clients reconnect). None is left hanging.
      let served = 0;
      for (const raw of raws) {
        const connack = (await raw.next(2, 10_000)) as { reasonCode: number } | undefined;
        if (connack === undefined) assert.ok(raw.closed);
        else if (connack.reasonCode === 0) served++;
      }
      assert.ok(served >= 1, 'the socket on its way was not served');
      const c = await connect(tb, { username: 'bulk/later' });
      await end(c);
    } finally {
      process.kill(pid, 'SIGCONT');
      for (const raw of raws) raw.close();
      await tb.stop();
    }
  });
});

describe('enhanced authentication of a background tenant', () => {
  const scramProvider = {
    type: 'plugin',
    module: './dist/examples/plugins/scram-auth.js',
    config: { iterations: 128, users: { alice: { password: 'secret', tenant: 'acme', user: 'alice-s' } } },
  };

  /** CONNECT as alice with the SCRAM method, and the proof for the broker's challenge (not sent yet). */
  async function untilProof(port: number, clientId: string): Promise<{ raw: RawClient; proof: Buffer; serverSignature: Buffer }> {
    const raw = await RawClient.open(port, 5);
    const nonce = Buffer.from(`${clientId}-0123456789abcdef0123456789`);
    raw.send({ type: 1, protocolName: 'MQTT', protocolVersion: 5, cleanStart: true, keepAlive: 60, clientId, username: 'alice', properties: { authenticationMethod: SCRAM, authenticationData: nonce } }, 5);
    const challenge = (await raw.next(15)) as { properties: { authenticationData: Buffer } };
    return { raw, ...clientFinal('alice', 'secret', nonce, challenge.properties.authenticationData) };
  }

  test('the AUTH exchange happens in the broker, packets sent behind the last AUTH go along, and re-authentication works in the background process', T, async () => {
    const tb = await startAuthBroker({ auth: { providers: [scramProvider] }, background: { tenants: ['acme'] } });
    try {
      const { raw, proof, serverSignature } = await untilProof(tb.port, 'scram-bg');
      // The proof, and right behind it a SUBSCRIBE and a PUBLISH to it (decoded and held while the proof is checked).
      raw.write(
        Buffer.concat([
          encodePacket({ type: 15, reasonCode: 0x18, properties: { authenticationMethod: SCRAM, authenticationData: proof } }, 5),
          encodePacket({ type: 8, packetId: 1, subscriptions: [{ filter: 'own/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 5),
          encodePacket({ type: 3, topic: 'own/x', payload: Buffer.from('held'), qos: 1, packetId: 2, retain: false, dup: false }, 5),
        ]),
      );
      const connack = (await raw.next(2)) as { reasonCode: number; properties?: { authenticationData?: Buffer } };
      assert.equal(connack.reasonCode, 0);
      assert.deepEqual(connack.properties?.authenticationData, serverSignature);
      assert.ok(await raw.next(9), 'no SUBACK');
      const echoed = (await raw.next(3)) as { payload: Buffer };
      assert.equal(echoed.payload.toString(), 'held');
      assert.equal((await tb.broker.background!.connections()).connections['acme'], 1);
      const reauth = await scramReauth(raw, 'alice', 'secret');
      assert.equal(reauth.end?.type, 15);
      assert.equal((reauth.end as { reasonCode: number }).reasonCode, 0);
      raw.close();
    } finally {
      await tb.stop();
    }
  });

  test('a malformed packet behind the last AUTH: CONNACK, what came before it is handled, then DISCONNECT 0x81, as in the broker', T, async () => {
    const tb = await startAuthBroker({ auth: { providers: [scramProvider] }, background: { tenants: ['acme'] } });
    try {
      const { raw, proof } = await untilProof(tb.port, 'scram-bad');
      // A good QoS 1 PUBLISH, a PUBLISH with QoS 3, then a PINGREQ: the stream cannot go on past the bad packet.
      raw.write(
        Buffer.concat([
          encodePacket({ type: 15, reasonCode: 0x18, properties: { authenticationMethod: SCRAM, authenticationData: proof } }, 5),
          encodePacket({ type: 3, topic: 'kept', payload: Buffer.from('before'), qos: 1, packetId: 5, retain: true, dup: false }, 5),
          Buffer.from([0x36, 0x04, 0x00, 0x01, 0x61, 0x00]),
          Buffer.from([0xc0, 0x00]),
        ]),
      );
      const connack = (await raw.next(2)) as { reasonCode: number };
      assert.equal(connack.reasonCode, 0);
      assert.equal(((await raw.next(4)) as { packetId: number }).packetId, 5);
      const disconnect = (await raw.next(14)) as { reasonCode: number };
      assert.equal(disconnect.reasonCode, 0x81);
      await raw.waitClosed();
      assert.equal(raw.packets.filter((p) => p.type === 13).length, 0, 'a PINGREQ past the bad packet was answered');
    } finally {
      await tb.stop();
    }
  });
});

describe('the background process and the broker', () => {
  test("a persistent session of a background tenant survives a reconnect and a restart (it is stored in <dataDir>/background)", T, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rtk-bg-'));
    try {
      const config = { storage: 'lmdb' as const, dataDir, background: { tenants: ['bulk'] } };
      let tb = await startBroker(config);
      const opts = { username: 'bulk/p', clientId: 'keeper', clean: false, properties: { sessionExpiryInterval: 3600 } };
      const sub = await connect(tb, opts);
      await sub.subscribeAsync('keep/#', { qos: 1 });
      await end(sub);
      const pub = await connect(tb, { username: 'bulk/q' });
      await pub.publishAsync('keep/1', 'queued', { qos: 1 });
      await end(pub);
      await tb.stop();
      tb = await startBroker({ ...config, mqttPort: 0 });
      const back = mqtt.connect({ host: '127.0.0.1', port: tb.port, protocolVersion: 5, reconnectPeriod: 0, ...opts });
      const inbox = new Inbox(back);
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
        back.once('connect', resolve);
        back.once('error', reject);
      });
      assert.equal(connack.sessionPresent, true);
      await inbox.waitFor(1);
      assert.equal(inbox.messages[0]!.payload.toString(), 'queued');
      await end(back);
      await tb.stop();
      assert.ok(statSync(join(dataDir, 'background', 'ratatosk.mdb')).size > 0, 'no store of the background process');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('stopping the broker stops the background process, and its clients get DISCONNECT 0x8B', T, async () => {
    const tb = await startBroker({ background: { tenants: ['bulk'] } });
    const pid = tb.broker.background!.pid!;
    const c = await connect(tb, { username: 'bulk/s' });
    const disconnect = new Promise<number>((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode ?? 0)));
    await tb.stop();
    assert.equal(await disconnect, 0x8b);
    await eventually(() => !alive(pid), 'the background process to exit');
    c.end(true);
  });

  test('it sends the broker only the event types its collectors declare', T, async () => {
    const got: TimedEvent[] = [];
    const tb = await startBroker({ background: { tenants: ['bulk'] } }, { eventCollectors: [{ types: new Set(['client.connected']), report: (e) => void got.push(e) }] });
    try {
      const c = await connect(tb, { username: 'bulk/r', clientId: 'wish' });
      for (let i = 0; i < 20; i++) await c.publishAsync(`r/${i}`, 'x', { qos: 1, retain: true });
      await end(c);
      await eventually(() => got.some((e) => e.type === 'client.connected' && e.clientId === 'wish'), 'client.connected');
      await sleep(200);
      assert.deepEqual([...new Set(got.map((e) => e.type))], ['client.connected']);
    } finally {
      await tb.stop();
    }
  });

  test('a broker that fails to start (its port taken) leaves no background process behind', T, async () => {
    const taken = await startBroker();
    try {
      await assert.rejects(startBroker({ mqttPort: taken.port, background: { tenants: ['bulk'] } }), /EADDRINUSE|listener/);
      await sleep(300);
      assert.deepEqual(backgroundChildren(), []);
    } finally {
      await taken.stop();
    }
  });

  test('a SIGTERM to the background process while it starts waits for the start: the broker starts, and the process is started again', T, async () => {
    let started = false;
    // A setting provider that takes 600 ms to load keeps the background process starting that long.
    const slow = { module: './dist/test/background/fixtures/slow-settings.js', config: { delayMs: 600 } };
    const starting = startBroker({ background: { tenants: ['bulk'], restartSeconds: 0.2 }, plugins: { settings: slow } }).then((tb) => {
      started = true;
      return tb;
    });
    const startedYet = (): boolean => started;
    let child: number | undefined;
    await eventually(() => (child = backgroundChildren()[0]) !== undefined, 'the background process to be forked');
    // Once its own handlers are in (SIGHUP is caught by them alone: Node itself catches SIGTERM from
    // the start, to restore the terminal and die), and before it is ready.
    await eventually(() => catches(child!, 1), 'the background process to install its signal handlers');
    assert.equal(startedYet(), false);
    process.kill(child!, 'SIGTERM');
    const tb = await starting;
    try {
      await eventually(() => tb.broker.background!.pid !== undefined && tb.broker.background!.pid !== child, 'a new background process', 10_000);
      const c = await connect(tb, { username: 'bulk/x' });
      await end(c);
    } finally {
      await tb.stop();
    }
  });

  test('a listener added while it runs hears its events from then on', T, async () => {
    const tb = await startBroker({ background: { tenants: ['bulk'] } });
    try {
      const c = await connect(tb, { username: 'bulk/l', clientId: 'heard' });
      const heard: TimedEvent[] = [];
      tb.broker.events.listen((e) => heard.push(e));
      await end(c);
      await eventually(() => heard.some((e) => e.type === 'client.disconnected' && e.clientId === 'heard'), 'the disconnect of a connection made before the listener');
    } finally {
      await tb.stop();
    }
  });

  test('auth providers passed as objects are refused with background tenants (the background process could not use them)', async () => {
    await assert.rejects(startBroker({ background: { tenants: ['bulk'] } }, { authProviders: [] }), /background\.tenants/);
  });

  test('a bad background block is refused naming the key', () => {
    assert.throws(() => validateConfig({ background: { tenants: [''] } }), /background\.tenants/);
    assert.throws(() => validateConfig({ background: { tenant: ['a'] } }), /background/);
  });
});
