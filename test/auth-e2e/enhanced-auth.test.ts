/**
 * MQTT 5 enhanced authentication (section 4.12) end to end with the example SCRAM plugin
 * (examples/plugins/scram-auth.ts, loaded from the config by module path): the exchange driven by
 * MQTT.js (`properties.authenticationMethod` + `handleAuth`) and by a raw socket (Ratatosk's own
 * codec), refusals (wrong proof, unknown method, a chain where nobody knows the method), and
 * re-authentication (AUTH 0x19) that succeeds (AUTH 0x00) or fails (DISCONNECT).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type IConnackPacket } from 'mqtt';
import type { IAuthPacket } from 'mqtt-packet';
import { clientFinal } from '../../examples/plugins/scram-auth';
import { hashPassword } from '../../src/auth/passwd';
import type { TestBroker } from '../helpers/broker';
import { attempt, end, hx, nextOf, pubCode, RC, rawPublish, recordEvents, SCRAM, scramConnect, scramReauth, start, T, uid } from './helpers';

const scramProvider = {
  type: 'plugin',
  module: './dist/examples/plugins/scram-auth.js',
  config: { iterations: 128, users: { alice: { password: 'secret', tenant: 'acme', user: 'alice-s' }, bob: { password: 'b0b', tenant: 'globex' } } },
};

describe('enhanced authentication with the SCRAM example plugin', () => {
  let tb: TestBroker;

  before(async () => {
    tb = await start({ auth: { providers: [scramProvider] } });
  });

  after(async () => {
    await tb.stop();
  });

  it('MQTT.js: CONNECT with the method, AUTH 0x18 both ways, CONNACK 0x00 with the method and the server signature', T, async () => {
    const events = recordEvents(tb.broker);
    const nonce = randomBytes(24);
    const clientId = uid('mqttjs');
    let expected: Buffer | undefined;
    let challenges = 0;
    const client = mqtt.connect({
      host: '127.0.0.1',
      port: tb.port,
      protocolVersion: 5,
      reconnectPeriod: 0,
      clientId,
      username: 'alice',
      properties: { authenticationMethod: SCRAM, authenticationData: nonce },
    });
    client.handleAuth = (packet: IAuthPacket, cb: (err?: Error, packet?: IAuthPacket) => void): void => {
      challenges++;
      assert.equal(packet.reasonCode, 0x18);
      const { proof, serverSignature } = clientFinal('alice', 'secret', nonce, packet.properties!.authenticationData!);
      expected = serverSignature;
      cb(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: SCRAM, authenticationData: proof } });
    };
    try {
      const connack = await new Promise<IConnackPacket>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      assert.equal(connack.reasonCode, RC.Success);
      assert.equal(challenges, 1, 'one challenge');
      assert.equal(connack.properties?.authenticationMethod, SCRAM);
      assert.ok(expected && Buffer.from(connack.properties?.authenticationData ?? []).equals(expected), 'CONNACK carries the server signature');
      assert.ok((await pubCode(client, 'scram/t', 'x', 1)) < 0x80, 'the client works after the exchange');
      const connected = events.find((e) => e.type === 'client.connected' && e.clientId === clientId);
      assert.ok(connected && connected.type === 'client.connected');
      assert.deepEqual([connected.tenantId, connected.userId], ['acme', 'alice-s']);
    } finally {
      await end(client);
    }
  });

  it('raw socket: the same exchange; the server signature proves the server knows the password', T, async () => {
    const { raw, challenge, connack, expectedSignature } = await scramConnect(tb.port, 'bob', 'b0b');
    try {
      assert.ok(challenge, 'an AUTH 0x18 challenge came first');
      assert.equal(connack?.reasonCode, RC.Success);
      assert.equal(connack?.properties?.authenticationMethod, SCRAM);
      assert.ok(expectedSignature && connack?.properties?.authenticationData?.equals(expectedSignature));
    } finally {
      raw.close();
    }
  });

  it('a wrong proof is refused with CONNACK 0x87 (what the plugin answers); so is an unknown user', T, async () => {
    const wrong = await scramConnect(tb.port, 'alice', 'secret', { proofPassword: 'guess' });
    try {
      assert.equal(wrong.connack?.reasonCode, RC.NotAuthorized, `wrong proof: ${hx(wrong.connack?.reasonCode)}`);
      await wrong.raw.waitClosed();
    } finally {
      wrong.raw.close();
    }
    const unknown = await scramConnect(tb.port, 'mallory', 'whatever');
    try {
      assert.ok(unknown.challenge, 'an unknown user gets a challenge too (names are not revealed)');
      assert.equal(unknown.connack?.reasonCode, RC.NotAuthorized);
    } finally {
      unknown.raw.close();
    }
  });

  it('an authentication method no provider knows is refused with CONNACK 0x8C', T, async () => {
    const a = await attempt(tb.port, { properties: { authenticationMethod: 'KERBEROS-V5', authenticationData: randomBytes(16) } });
    assert.equal(a.code, RC.BadAuthenticationMethod, `got ${hx(a.code)} (${a.connack?.properties?.reasonString ?? 'no reason string'})`);
    const withUser = await attempt(tb.port, { username: 'alice', properties: { authenticationMethod: 'KERBEROS-V5' } });
    assert.equal(withUser.code, RC.BadAuthenticationMethod, `with a user name: got ${hx(withUser.code)}`);
  });

  it('re-authentication: AUTH 0x19 with the method runs the exchange again and ends with AUTH 0x00', T, async () => {
    const { raw, connack } = await scramConnect(tb.port, 'alice', 'secret');
    try {
      assert.equal(connack?.reasonCode, RC.Success);
      for (let round = 1; round <= 2; round++) {
        const { end: done, expectedSignature } = await scramReauth(raw, 'alice', 'secret');
        assert.ok(done?.type === 15, `round ${round}: expected AUTH, got ${done ? `packet type ${done.type}` : 'a close'}`);
        assert.equal(done.reasonCode ?? 0, RC.Success, `round ${round}: AUTH ${hx(done.reasonCode)}`);
        assert.equal(done.properties?.authenticationMethod, SCRAM);
        assert.ok(expectedSignature && done.properties?.authenticationData?.equals(expectedSignature), 'AUTH 0x00 carries the server signature');
        assert.ok((await rawPublish(raw, 'scram/after')) < 0x80, 'still connected and working');
      }
    } finally {
      raw.close();
    }
  });

  it('a failed re-authentication ends the connection with DISCONNECT 0x87', T, async () => {
    const events = recordEvents(tb.broker);
    const clientId = uid('reauth');
    const { raw, connack } = await scramConnect(tb.port, 'alice', 'secret', { clientId });
    try {
      assert.equal(connack?.reasonCode, RC.Success);
      const { end: done } = await scramReauth(raw, 'alice', 'not-the-password');
      assert.ok(done?.type === 14, `expected DISCONNECT, got ${done ? `packet type ${done.type}` : 'a close without DISCONNECT'}`);
      assert.equal(done.reasonCode, RC.NotAuthorized);
      await raw.waitClosed();
      const gone = events.find((e) => e.type === 'client.disconnected' && e.clientId === clientId);
      assert.ok(gone && gone.type === 'client.disconnected');
      assert.equal(gone.by, 'server');
    } finally {
      raw.close();
    }
  });

  it('re-authentication with another method is a protocol error: DISCONNECT 0x82', T, async () => {
    const { raw, connack } = await scramConnect(tb.port, 'alice', 'secret');
    try {
      assert.equal(connack?.reasonCode, RC.Success);
      raw.send({ type: 15, reasonCode: 0x19, properties: { authenticationMethod: 'OTHER', authenticationData: randomBytes(24) } }, 5);
      const d = await nextOf(raw, [14, 15]);
      assert.ok(d?.type === 14, 'DISCONNECT');
      assert.equal(d.reasonCode, RC.ProtocolError);
    } finally {
      raw.close();
    }
  });
});

describe('enhanced authentication in a provider chain', () => {
  let dir: string;
  let tb: TestBroker;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtk-enh-'));
    const path = join(dir, 'users.yaml');
    writeFileSync(path, `users:\n  - username: alice\n    password: "${await hashPassword('file-pw')}"\n    tenant: filetenant\n`);
    tb = await start({
      auth: {
        providers: [
          { type: 'file', path },
          { type: 'jwt', secret: 'a-secret-that-is-long-enough-for-hs256!!' },
          scramProvider,
        ],
      },
    });
  });

  after(async () => {
    await tb.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the providers that do not know SCRAM skip it, and the SCRAM plugin later in the chain decides', T, async () => {
    const events = recordEvents(tb.broker);
    const clientId = uid('chain');
    const { raw, connack } = await scramConnect(tb.port, 'alice', 'secret', { clientId });
    try {
      assert.equal(connack?.reasonCode, RC.Success);
      const connected = events.find((e) => e.type === 'client.connected' && e.clientId === clientId);
      assert.ok(connected && connected.type === 'client.connected');
      assert.equal(connected.tenantId, 'acme', 'the SCRAM plugin decided, not the file');
    } finally {
      raw.close();
    }
    // Password clients still go to the file provider.
    const byFile = await attempt(tb.port, { username: 'alice', password: 'file-pw' });
    assert.equal(byFile.code, 0);
    await end(byFile.client);
  });

  it('a method unknown to every provider of the chain is refused with CONNACK 0x8C', T, async () => {
    const a = await attempt(tb.port, { username: 'alice', properties: { authenticationMethod: 'GS2-KRB5', authenticationData: randomBytes(16) } });
    assert.equal(a.code, RC.BadAuthenticationMethod, `got ${hx(a.code)} (${a.connack?.properties?.reasonString ?? 'no reason string'})`);
    const noUser = await attempt(tb.port, { properties: { authenticationMethod: 'GS2-KRB5' } });
    assert.equal(noUser.code, RC.BadAuthenticationMethod, `without a user name: got ${hx(noUser.code)}`);
  });
});
