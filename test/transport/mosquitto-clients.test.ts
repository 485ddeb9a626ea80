/**
 * Eclipse Mosquitto's command-line clients as an independent implementation talking to Ratatosk
 * over TCP and TLS (server verification with --cafile, and mutual TLS with --cert/--key), in MQTT
 * 3.1.1 and 5: mosquitto_pub → mosquitto_sub, and MQTT.js ↔ mosquitto_* in both directions.
 * The Debian package mosquitto-clients is installed when missing (as root), else the suite fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker';
import { ensureCommand, findCommand } from './ensure-package';
import { SERVER_PEM, T, connectVia, endClient, portOf, tlsPath, uid, until, type TransportKind } from './util';

let tb: TestBroker;
const children = new Set<ChildProcess>();
const clients: MqttClient[] = [];

before(
  async () => {
    await ensureCommand('mosquitto_sub', 'mosquitto-clients');
    await ensureCommand('mosquitto_pub', 'mosquitto-clients');
    tb = await startBroker({
      listeners: [
        { name: 'tcp', type: 'tcp', host: '127.0.0.1', port: 0 },
        { name: 'tls', type: 'tls', host: '127.0.0.1', port: 0, ...SERVER_PEM },
        { name: 'tls-mutual', type: 'tls', host: '127.0.0.1', port: 0, ...SERVER_PEM, clientCert: 'required' },
      ],
    });
  },
  { timeout: 600_000 },
);

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(clients.map((c) => endClient(c, true)));
  await tb?.stop();
});

/** coreutils' stdbuf, to unbuffer mosquitto_sub's output (without it SUBACK is seen only at exit). */
const STDBUF = findCommand('stdbuf');

const VERSIONS = [
  { flag: 'mqttv311', mqttjs: 4, name: 'MQTT 3.1.1' },
  { flag: 'mqttv5', mqttjs: 5, name: 'MQTT 5' },
] as const;
type Version = (typeof VERSIONS)[number];

/** Connection arguments of mosquitto_pub/sub for a listener. */
function target(listener: 'tcp' | 'tls' | 'tls-mutual', withCert = true): string[] {
  const port = String(portOf(tb, listener));
  if (listener === 'tcp') return ['-h', '127.0.0.1', '-p', port];
  // The server certificate names localhost (and 127.0.0.1); mosquitto checks the host name.
  const args = ['-h', 'localhost', '-p', port, '--cafile', tlsPath('ca.pem')];
  if (listener === 'tls-mutual' && withCert) args.push('--cert', tlsPath('client.pem'), '--key', tlsPath('client.key'));
  return args;
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool; `exit` resolves when it ends (it is killed after `ms`). */
function tool(cmd: string, args: string[], ms = 10_000): { child: ChildProcess; out: () => string; exit: Promise<Exit> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const exit = new Promise<Exit>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, out: () => stdout, exit };
}

/** Lines printed by mosquitto_sub -F 'MSG|%t|%q|%r|%p'. */
interface SubMessage {
  topic: string;
  qos: number;
  retain: boolean;
  payload: string;
}

/**
 * Starts mosquitto_sub for one message and waits until its subscription is acknowledged (the -d
 * debug output says so), so that a publish after this cannot race the SUBSCRIBE.
 */
async function mosquittoSub(
  listener: 'tcp' | 'tls' | 'tls-mutual',
  v: Version,
  topic: string,
  qos: number,
): Promise<() => Promise<SubMessage>> {
  // stdbuf -oL: line-buffered stdout, so that the debug lines arrive as they are printed.
  const sub = tool(STDBUF ?? 'mosquitto_sub', [
    ...(STDBUF ? ['-oL', 'mosquitto_sub'] : []),
    ...target(listener),
    '-V', v.flag,
    '-i', uid('msub'),
    '-t', topic,
    '-q', String(qos),
    '-C', '1',
    '-W', '10',
    '-d',
    '-F', 'MSG|%t|%q|%r|%p',
  ]);
  let exited: Exit | undefined;
  void sub.exit.then((e) => (exited = e));
  await until(
    () => /received SUBACK/.test(sub.out()) || exited !== undefined,
    () => `mosquitto_sub never got SUBACK: ${sub.out()}`,
    5000,
  );
  if (!/received SUBACK/.test(sub.out()) && exited) assert.fail(`mosquitto_sub exited (${exited.code}) before subscribing: ${exited.stdout}${exited.stderr}`);
  return async () => {
    const e = await sub.exit;
    assert.equal(e.code, 0, `mosquitto_sub exit code ${e.code}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
    const line = e.stdout.split('\n').find((l) => l.startsWith('MSG|'));
    if (!line) assert.fail(`mosquitto_sub printed no message:\n${e.stdout}\n${e.stderr}`);
    const [, t, q, r, ...p] = line.split('|');
    return { topic: t!, qos: Number(q), retain: r === '1', payload: p.join('|') };
  };
}

/** Publishes one message (`payload` null: an empty one, -n) and resolves when mosquitto_pub exits. */
async function mosquittoPub(
  listener: 'tcp' | 'tls' | 'tls-mutual',
  v: Version,
  topic: string,
  payload: string | null,
  qos: number,
  extra: string[] = [],
  withCert = true,
): Promise<Exit> {
  const body = payload === null ? ['-n'] : ['-m', payload];
  const pub = tool('mosquitto_pub', [...target(listener, withCert), '-V', v.flag, '-i', uid('mpub'), '-t', topic, ...body, '-q', String(qos), ...extra]);
  return pub.exit;
}

function pubOk(e: Exit): void {
  assert.equal(e.code, 0, `mosquitto_pub exit code ${e.code}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
}

async function mqttjs(kind: TransportKind, v: Version): Promise<MqttClient> {
  const c = await connectVia(kind, portOf(tb, kind), { protocolVersion: v.mqttjs });
  clients.push(c);
  return c;
}

for (const v of VERSIONS) {
  describe(`${v.name}`, () => {
    for (const listener of ['tcp', 'tls', 'tls-mutual'] as const) {
      const how = listener === 'tcp' ? 'TCP' : listener === 'tls' ? 'TLS (--cafile)' : 'mutual TLS (--cert/--key, clientCert required)';
      test(`mosquitto_pub → mosquitto_sub over ${how}`, T, async () => {
        const topic = `mosq/${uid('t')}`;
        const received = await mosquittoSub(listener, v, topic, 1);
        pubOk(await mosquittoPub(listener, v, topic, `hello ${v.flag} ${listener}`, 1));
        const m = await received();
        assert.deepEqual(m, { topic, qos: 1, retain: false, payload: `hello ${v.flag} ${listener}` });
      });
    }

    test('mosquitto_pub without a client certificate is refused by the clientCert required listener', T, async () => {
      const e = await mosquittoPub('tls-mutual', v, `mosq/${uid('t')}`, 'nope', 1, [], false);
      assert.notEqual(e.code, 0, `mosquitto_pub succeeded without a certificate: ${e.stdout}${e.stderr}`);
    });

    test('a retained message from mosquitto_pub reaches a later mosquitto_sub with the retain flag', T, async () => {
      const topic = `mosq/${uid('r')}`;
      pubOk(await mosquittoPub('tcp', v, topic, 'kept', 1, ['-r']));
      const received = await mosquittoSub('tcp', v, topic, 1);
      assert.deepEqual(await received(), { topic, qos: 1, retain: true, payload: 'kept' });
      pubOk(await mosquittoPub('tcp', v, topic, null, 1, ['-r'])); // clears it
    });

    for (const kind of ['tcp', 'tls'] as const) {
      test(`mosquitto_pub → MQTT.js over ${kind}, QoS 2`, T, async () => {
        const topic = `mosq/${uid('x')}`;
        const c = await mqttjs(kind, v);
        await c.subscribeAsync(topic, { qos: 2 });
        const got = new Promise<IPublishPacket>((resolve) => c.once('message', (_t, _p, packet) => resolve(packet)));
        const extra = v.mqttjs === 5 ? ['-D', 'publish', 'user-property', 'origin', 'mosquitto', '-D', 'publish', 'content-type', 'text/plain'] : [];
        pubOk(await mosquittoPub(kind, v, topic, 'from mosquitto', 2, extra));
        const p = await got;
        assert.equal(p.topic, topic);
        assert.equal(p.qos, 2);
        assert.equal(p.payload.toString(), 'from mosquitto');
        if (v.mqttjs === 5) {
          assert.deepEqual({ ...p.properties?.userProperties }, { origin: 'mosquitto' });
          assert.equal(p.properties?.contentType, 'text/plain');
        }
      });

      test(`MQTT.js → mosquitto_sub over ${kind}, QoS 2`, T, async () => {
        const topic = `mosq/${uid('y')}`;
        const received = await mosquittoSub(kind, v, topic, 2);
        const c = await mqttjs(kind, v);
        await c.publishAsync(topic, 'from MQTT.js', { qos: 2 });
        assert.deepEqual(await received(), { topic, qos: 2, retain: false, payload: 'from MQTT.js' });
      });
    }
  });
}
