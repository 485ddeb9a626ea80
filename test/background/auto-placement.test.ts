/**
 * Automatic placement (`background.auto`): a tenant that floods a busy broker while another tenant
 * is active moves to the background process with its persistent sessions and retained messages, its
 * clients connect again and are served there; it comes back once calm. Real broker, real child
 * process, real sockets and MQTT.js clients; the flood is raw QoS 0 PUBLISHes from this process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { encodePacket } from '../../src/codec/encoder';
import { PacketDecoder } from '../../src/codec/decoder';
import type { Packet } from '../../src/codec/packets';
import type { TimedEvent } from '../../src/plugins/event-bus';
import { connect, end, Inbox, sleep, startBroker, tcpAndWsListeners, type TestBroker } from '../helpers/broker';

const T = { timeout: 60_000 };

async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/** Connects an MQTT.js client with its inbox listening from the start (queued messages follow CONNACK at once). */
async function connectWithInbox(port: number, opts: IClientOptions): Promise<{ client: MqttClient; inbox: Inbox; sessionPresent: boolean }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, reconnectPeriod: 0, ...opts });
  const inbox = new Inbox(client);
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  return { client, inbox, sessionPresent: connack.sessionPresent };
}

/** A raw MQTT 5 connection that publishes QoS 0 as fast as the socket takes it; records what the broker sends. */
class Flooder {
  readonly received: Packet[] = [];
  closed = false;
  private stopped = false;

  private constructor(private readonly socket: Socket) {
    const decoder = new PacketDecoder(
      {
        onPacket: (p) => {
          this.received.push(p);
          // As clients do: a DISCONNECT from the server ends the connection at once.
          if (p.type === 14) socket.destroy();
        },
      },
      { protocolVersion: 5 },
    );
    socket.on('data', (c) => decoder.push(c));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async open(port: number, username: string, clientId: string): Promise<Flooder> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
    const f = new Flooder(socket);
    socket.write(encodePacket({ type: 1, protocolVersion: 5, clientId, cleanStart: true, keepAlive: 60, username } as Packet, 5));
    await eventually(() => f.received.some((p) => p.type === 2), 'CONNACK');
    const one = encodePacket({ type: 3, topic: `flood/${clientId}`, payload: Buffer.alloc(200, 1), qos: 0, retain: false, dup: false } as Packet, 5);
    const block = Buffer.concat(Array.from({ length: 256 }, () => one));
    const pump = (): void => {
      while (!f.stopped && !f.closed && socket.write(block));
    };
    socket.on('drain', pump);
    pump();
    return f;
  }

  stop(): void {
    this.stopped = true;
    this.socket.destroy();
  }
}

/** A tenant that stays active: one QoS 1 message every 50 ms to its own subscriber. */
async function steadyTenant(tb: TestBroker, tenant: string): Promise<{ inbox: Inbox; sent: () => number; clients: MqttClient[]; stop: () => Promise<void> }> {
  const sub = await connect(tb, { username: `${tenant}/sub` });
  await sub.subscribeAsync('steady', { qos: 1 });
  const inbox = new Inbox(sub);
  const pub = await connect(tb, { username: `${tenant}/pub` });
  let sent = 0;
  const timer = setInterval(() => {
    sent++;
    pub.publish('steady', String(sent), { qos: 1 });
  }, 50);
  return {
    inbox,
    sent: () => sent,
    clients: [sub, pub],
    stop: async () => {
      clearInterval(timer);
      await end(pub);
      await end(sub);
    },
  };
}

function storageCases(): { name: string; storage: 'memory' | 'lmdb' }[] {
  return [
    { name: 'lmdb', storage: 'lmdb' },
    { name: 'memory', storage: 'memory' },
  ];
}

for (const { name, storage } of storageCases()) {
  describe(`automatic placement (${name} storage)`, () => {
    let tb: TestBroker;
    let dataDir: string;
    const events: TimedEvent[] = [];
    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'rtk-auto-'));
      tb = await startBroker(
        { storage, dataDir, background: { auto: { afterSeconds: 0.5, calmSeconds: 3 } } },
        { eventCollectors: [{ report: (e) => void events.push(e) }] },
      );
    });
    after(async () => {
      await tb.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test('a flooding tenant moves to the background with its sessions and retained messages, is served there, and comes back when calm', T, async () => {
      const url = { port: tb.port };
      // The noisy tenant's state before the flood: a retained message, an offline persistent
      // session with queued messages, and a persistent subscriber (reconnecting) with a will.
      const setup = await connect(url, { username: 'noisy/setup' });
      await setup.publishAsync('r/x', 'kept', { qos: 1, retain: true });
      const offline = await connect(url, { username: 'noisy/off', clientId: 'offline', clean: false, properties: { sessionExpiryInterval: 3600 } });
      await offline.subscribeAsync('q/#', { qos: 1 });
      await end(offline);
      for (let i = 0; i < 5; i++) await setup.publishAsync(`q/${i}`, `queued-${i}`, { qos: 1 });
      const willWatcher = await connect(url, { username: 'noisy/w', reconnectPeriod: 100 });
      await willWatcher.subscribeAsync('will/#', { qos: 1 });
      const wills = new Inbox(willWatcher);
      const keeper = await connect(url, {
        username: 'noisy/keep',
        clientId: 'keeper',
        clean: false,
        reconnectPeriod: 100,
        properties: { sessionExpiryInterval: 3600 },
        will: { topic: 'will/keeper', payload: Buffer.from('gone'), qos: 1, retain: false },
      });
      let keeperCloses = 0;
      keeper.on('close', () => keeperCloses++);
      await end(setup);

      const quiet = await steadyTenant(tb, 'quiet');
      let quietCloses = 0;
      for (const c of quiet.clients) c.on('close', () => quietCloses++);
      await quiet.inbox.waitFor(5);

      const flooders = await Promise.all([0, 1, 2].map((i) => Flooder.open(tb.port, 'noisy/f', `flood-${i}`)));
      await eventually(() => events.some((e) => e.type === 'tenant.moved' && e.tenantId === 'noisy' && e.to === 'background'), 'the noisy tenant to move out');
      const out = events.find((e) => e.type === 'tenant.moved' && e.to === 'background')!;
      assert.equal(out.type === 'tenant.moved' && out.sessions, 2, 'both persistent sessions went along');
      assert.equal(out.type === 'tenant.moved' && out.retained, 1);
      // Its connections were told to use another server (0x9C), then closed.
      await eventually(() => flooders.every((f) => f.closed), 'the flooders to be closed');
      for (const f of flooders) {
        const d = f.received.find((p) => p.type === 14);
        assert.ok(d && d.type === 14 && d.reasonCode === 0x9c, 'no DISCONNECT 0x9C for a flooder');
      }
      // Its reconnecting clients are served by the background process now, the quiet tenant here.
      const bg = tb.broker.background!;
      await eventually(async () => (await bg.connections()).connections['noisy'] === 2, 'the noisy clients to be back, in the background process');
      assert.equal(tb.broker.connectionsByTenant()['noisy'], undefined);
      assert.equal(tb.broker.tenant('noisy'), undefined, 'the broker still holds state of the moved tenant');
      assert.equal(tb.broker.retained.get('noisy', 'r/x', Date.now()), undefined);
      assert.deepEqual(tb.broker.placement!.placed, ['noisy']);
      // The offline session and its queue came along.
      const { client: back, inbox: backInbox, sessionPresent } = await connectWithInbox(tb.port, { username: 'noisy/off', clientId: 'offline', clean: false, properties: { sessionExpiryInterval: 3600 } });
      assert.equal(sessionPresent, true);
      await backInbox.waitFor(5);
      assert.deepEqual(backInbox.messages.map((m) => m.payload.toString()).sort(), [0, 1, 2, 3, 4].map((i) => `queued-${i}`));
      // The retained message too.
      const reader = await connect(url, { username: 'noisy/reader' });
      const readerInbox = new Inbox(reader);
      await reader.subscribeAsync('r/#', { qos: 1 });
      await readerInbox.waitFor(1);
      assert.equal(readerInbox.messages[0]!.payload.toString(), 'kept');
      // The keeper's subscription lives on there: a message to it arrives.
      const keeperInbox = new Inbox(keeper);
      await keeper.subscribeAsync('k', { qos: 1 });
      await reader.publishAsync('k', 'to-keeper', { qos: 1 });
      await keeperInbox.waitFor(1);
      assert.ok(keeperCloses >= 1, 'the keeper was not moved');
      assert.equal(quietCloses, 0, 'the quiet tenant was disconnected');
      await end(back);
      await end(reader);

      // Calm now (the flood is gone): it comes back, with its state.
      for (const f of flooders) f.stop();
      await eventually(() => events.some((e) => e.type === 'tenant.moved' && e.tenantId === 'noisy' && e.to === 'broker'), 'the noisy tenant to come back', 15_000);
      await eventually(() => tb.broker.connectionsByTenant()['noisy'] === 2, 'the noisy clients to be back in the broker');
      assert.equal(tb.broker.retained.get('noisy', 'r/x', Date.now())?.payload.toString(), 'kept');
      assert.equal(tb.broker.tenant('noisy')!.sessions.get('offline')?.persistent, true);
      assert.deepEqual(tb.broker.placement!.placed, []);
      const again = await connect(url, { username: 'noisy/reader2' });
      await again.publishAsync('k', 'to-keeper-2', { qos: 1 });
      await keeperInbox.waitFor(2);
      await end(again);

      // Nobody saw the keeper's will: it was moved, not gone. The quiet tenant lost nothing.
      await sleep(200);
      assert.equal(wills.messages.length, 0, 'a will of a moved client was published');
      assert.equal(quietCloses, 0);
      await quiet.stop();
      await eventually(() => quiet.inbox.messages.length >= quiet.sent(), 'the quiet tenant to receive all it sent');
      assert.equal(quiet.inbox.messages.length, quiet.sent());
      keeper.end(true);
      willWatcher.end(true);
    });
  });
}

describe('automatic placement and clients that cannot change process', () => {
  let tb: TestBroker;
  const events: TimedEvent[] = [];
  before(async () => {
    const listeners = tcpAndWsListeners();
    tb = await startBroker({ listeners, background: { auto: { afterSeconds: 0.5, calmSeconds: 60 } } }, { eventCollectors: [{ report: (e) => void events.push(e) }] });
  });
  after(() => tb.stop());

  test('a tenant with a WebSocket client is not moved', T, async () => {
    const ws = await connect({ port: tb.broker.port('ws') }, { username: 'webby/ws', protocol: 'ws', path: '/mqtt' } as never);
    const quiet = await steadyTenant(tb, 'calm');
    const flooders = await Promise.all([0, 1].map((i) => Flooder.open(tb.port, 'webby/f', `wf-${i}`)));
    await sleep(2000);
    assert.ok(!events.some((e) => e.type === 'tenant.moved'), 'a tenant with a WebSocket client moved');
    assert.ok(flooders.every((f) => !f.closed));
    for (const f of flooders) f.stop();
    await quiet.stop();
    await end(ws);
  });

  test('a WebSocket client of a tenant in the background brings it back and is served', T, async () => {
    const quiet = await steadyTenant(tb, 'calm2');
    const flooders = await Promise.all([0, 1].map((i) => Flooder.open(tb.port, 'surge/f', `sf-${i}`)));
    await eventually(() => events.some((e) => e.type === 'tenant.moved' && e.tenantId === 'surge' && e.to === 'background'), 'the surging tenant to move out');
    for (const f of flooders) f.stop();
    const ws = await connect({ port: tb.broker.port('ws') }, { username: 'surge/ws', protocol: 'ws', path: '/mqtt' } as never);
    assert.ok(events.some((e) => e.type === 'tenant.moved' && e.tenantId === 'surge' && e.to === 'broker'));
    assert.equal(tb.broker.connectionsByTenant()['surge'], 1);
    await ws.subscribeAsync('x', { qos: 1 });
    const inbox = new Inbox(ws);
    const tcp = await connect(tb, { username: 'surge/tcp' });
    await tcp.publishAsync('x', 'same-process', { qos: 1 });
    await inbox.waitFor(1);
    await end(tcp);
    await end(ws);
    await quiet.stop();
  });
});

describe('automatic placement across crashes and restarts (lmdb storage)', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'rtk-auto-restart-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  const config = (): Parameters<typeof startBroker>[0] => ({ storage: 'lmdb', dataDir, background: { restartSeconds: 0.2, auto: { afterSeconds: 0.5, calmSeconds: 600 } } });

  test('a moved tenant stays in the background process when it is killed, and after a restart of the broker; its sessions come back with it', T, async () => {
    const events: TimedEvent[] = [];
    let tb = await startBroker(config(), { eventCollectors: [{ report: (e) => void events.push(e) }] });
    try {
      const parked = await connect(tb, { username: 'heavy/p', clientId: 'parked', clean: false, properties: { sessionExpiryInterval: 3600 } });
      await parked.subscribeAsync('q/#', { qos: 1 });
      await end(parked);
      const quiet = await steadyTenant(tb, 'light');
      const flooders = await Promise.all([0, 1].map((i) => Flooder.open(tb.port, 'heavy/f', `hf-${i}`)));
      await eventually(() => events.some((e) => e.type === 'tenant.moved' && e.tenantId === 'heavy'), 'the heavy tenant to move out');
      for (const f of flooders) f.stop();
      // Queued for the parked session, in the background process.
      const pub = await connect(tb, { username: 'heavy/pub' });
      for (let i = 0; i < 3; i++) await pub.publishAsync(`q/${i}`, `while-away-${i}`, { qos: 1 });
      await end(pub);

      // Killed: started again, and the tenant is still served there (its store has it).
      const first = tb.broker.background!.pid!;
      process.kill(first, 'SIGKILL');
      await eventually(() => tb.broker.background!.pid !== undefined && tb.broker.background!.pid !== first, 'the background process to be back');
      assert.deepEqual(tb.broker.placement!.placed, ['heavy']);
      const probe = await connect(tb, { username: 'heavy/probe' });
      assert.equal((await tb.broker.background!.connections()).connections['heavy'], 1, 'the heavy tenant is not served in the background process after its restart');
      await end(probe);
      await quiet.stop();
      await tb.stop();

      // The broker restarted: it starts the background process at once, which holds the tenant.
      tb = await startBroker(config());
      assert.ok(tb.broker.background?.pid !== undefined, 'no background process at start');
      assert.deepEqual(tb.broker.placement!.placed, ['heavy']);
      const { client, inbox, sessionPresent } = await connectWithInbox(tb.port, { username: 'heavy/p', clientId: 'parked', clean: false, properties: { sessionExpiryInterval: 3600 } });
      assert.equal(sessionPresent, true);
      await inbox.waitFor(3);
      assert.deepEqual(inbox.messages.map((m) => m.payload.toString()).sort(), ['while-away-0', 'while-away-1', 'while-away-2']);
      assert.equal(tb.broker.connectionsByTenant()['heavy'], undefined);
      await end(client);
    } finally {
      await tb.stop();
    }
  });

  test('a broker whose background store holds no tenant any more does not keep a background process', T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtk-auto-empty-'));
    try {
      mkdirSync(join(dir, 'background'));
      const tb = await startBroker({ storage: 'lmdb', dataDir: dir });
      try {
        assert.equal(tb.broker.background, undefined);
        assert.deepEqual(tb.broker.placement!.placed, []);
      } finally {
        await tb.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('automatic placement: failures in the middle of a move', () => {
  test('a connection still deciding its settings in the background process when its tenant goes back is refused there, and its client ends up in the broker', T, async () => {
    const listeners = tcpAndWsListeners();
    const slow = { module: './dist/test/background/fixtures/slow-tenant-settings.js', config: { tenant: 'slowpoke', delayMs: 1500 } };
    const events: TimedEvent[] = [];
    const tb = await startBroker(
      { listeners, plugins: { settings: slow }, background: { auto: { afterSeconds: 0.5, calmSeconds: 600 } } },
      { eventCollectors: [{ report: (e) => void events.push(e) }] },
    );
    let tcp: MqttClient | undefined;
    let ws: MqttClient | undefined;
    try {
      const quiet = await steadyTenant(tb, 'steady');
      const flooders = await Promise.all([0, 1].map((i) => Flooder.open(tb.port, 'slowpoke/f', `sp-${i}`)));
      await eventually(() => events.some((e) => e.type === 'tenant.moved' && e.tenantId === 'slowpoke' && e.to === 'background'), 'the tenant to move out');
      for (const f of flooders) f.stop();
      // Handed to the background process, where it waits 1.5 s for its tenant's settings ...
      // (MQTT.js connects again after a refused CONNACK only when told to)
      tcp = mqtt.connect({ host: '127.0.0.1', port: tb.port, protocolVersion: 5, username: 'slowpoke/tcp', reconnectPeriod: 200, reconnectOnConnackError: true });
      const bg = tb.broker.background!;
      // (authenticated and handed over within a few ms; its settings take 1.5 s there)
      await sleep(400);
      // ... while a WebSocket client brings the tenant back.
      ws = await connect({ port: tb.broker.port('ws') }, { username: 'slowpoke/ws', protocol: 'ws', path: '/mqtt' } as never);
      assert.ok(events.some((e) => e.type === 'tenant.moved' && e.tenantId === 'slowpoke' && e.to === 'broker'));
      await eventually(() => tb.broker.connectionsByTenant()['slowpoke'] === 2, 'the TCP client to be served in the broker', 10_000);
      assert.equal((await bg.connections()).connections['slowpoke'], undefined, 'a client of the tenant is served in the background process after it went back');
      const refused = events.find((e) => e.type === 'client.refused' && e.tenantId === 'slowpoke');
      assert.ok(refused && refused.type === 'client.refused' && refused.reasonCode === 0x88 && /moved back/.test(refused.reason), 'the connection was not refused in the background process');
      await quiet.stop();
    } finally {
      tcp?.end(true);
      ws?.end(true);
      await tb.stop();
    }
  });

  test('a tenant sent to a background process that dies before it has stored it is served by the broker again, with its sessions', T, async () => {
    const events: TimedEvent[] = [];
    const tb = await startBroker({ background: { restartSeconds: 0.2, auto: { afterSeconds: 3, calmSeconds: 600 } } }, { eventCollectors: [{ report: (e) => void events.push(e) }] });
    try {
      const parked = await connect(tb, { username: 'doomed/p', clientId: 'parked', clean: false, properties: { sessionExpiryInterval: 3600 } });
      await parked.subscribeAsync('q/#', { qos: 1 });
      await end(parked);
      const setup = await connect(tb, { username: 'doomed/s' });
      await setup.publishAsync('q/1', 'kept-through-the-crash', { qos: 1 });
      await setup.publishAsync('r/1', 'retained-through-the-crash', { qos: 1, retain: true });
      await end(setup);
      const quiet = await steadyTenant(tb, 'bystander');
      const flooders = await Promise.all([0, 1].map((i) => Flooder.open(tb.port, 'doomed/f', `df-${i}`)));
      // The process starts before the move (a candidate for half of afterSeconds): stopped there, it cannot store what it is sent.
      await eventually(() => tb.broker.background?.pid !== undefined, 'the background process to start');
      const pid = tb.broker.background!.pid!;
      process.kill(pid, 'SIGSTOP');
      await eventually(() => events.some((e) => e.type === 'tenant.moved' && e.tenantId === 'doomed' && e.to === 'background'), 'the tenant to move out');
      for (const f of flooders) f.stop();
      process.kill(pid, 'SIGKILL');
      await eventually(() => events.some((e) => e.type === 'tenant.moved' && e.tenantId === 'doomed' && e.to === 'broker'), 'the tenant to be put back in the broker');
      assert.deepEqual(tb.broker.placement!.placed, []);
      assert.equal(tb.broker.retained.get('doomed', 'r/1', Date.now())?.payload.toString(), 'retained-through-the-crash');
      const { client, inbox, sessionPresent } = await connectWithInbox(tb.port, { username: 'doomed/p', clientId: 'parked', clean: false, properties: { sessionExpiryInterval: 3600 } });
      assert.equal(sessionPresent, true);
      await inbox.waitFor(1);
      assert.equal(inbox.messages[0]!.payload.toString(), 'kept-through-the-crash');
      assert.equal(tb.broker.connectionsByTenant()['doomed'], 1);
      await end(client);
      await quiet.stop();
    } finally {
      await tb.stop();
    }
  });
});
