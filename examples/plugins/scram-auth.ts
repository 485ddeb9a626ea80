/**
 * Example AuthProvider: SCRAM-like MQTT 5 enhanced authentication (method `SCRAM-RTK`), after
 * RFC 5802 with SHA-256. The password never crosses the wire and the client can check that the
 * server knows it too.
 *
 * Config (the module path is relative to the config file's folder; built by `npm run build`):
 *
 *   auth:
 *     providers:
 *       - type: plugin
 *         module: ./dist/examples/plugins/scram-auth.js
 *         config:
 *           iterations: 4096                  # PBKDF2 iterations for passwords given in clear
 *           users:
 *             alice: { password: secret, tenant: acme }
 *             bob: { salt: <b64>, iterations: 4096, storedKey: <b64>, serverKey: <b64>, tenant: acme, user: bob }
 *
 * Exchange (each line one MQTT packet):
 *
 *   CONNECT        method SCRAM-RTK, user name, authData = client nonce (16 to 255 bytes)
 *   AUTH 0x18  ←   authData = server nonce (32 bytes) ‖ iterations (uint32 BE) ‖ salt
 *   AUTH 0x18  →   authData = client proof = ClientKey XOR HMAC(StoredKey, AuthMessage)   (32 bytes)
 *   CONNACK 0x00 ← authData = server signature = HMAC(ServerKey, AuthMessage)
 *
 *   SaltedPassword = PBKDF2-SHA256(password, salt, iterations, 32)
 *   ClientKey = HMAC(SaltedPassword, "Client Key"); StoredKey = SHA256(ClientKey)
 *   ServerKey = HMAC(SaltedPassword, "Server Key")
 *   AuthMessage = user name ‖ 0x00 ‖ client nonce ‖ server nonce
 *
 * A wrong proof is refused with 0x87 (Not authorized). An unknown user gets a made-up salt and is
 * refused at the proof, so answers do not reveal which user names exist. Re-authentication (AUTH
 * 0x19 carrying a new client nonce) runs the same exchange again. Other methods and connections
 * without a method are left to the next provider (skip).
 *
 * This file imports only types from Ratatosk, so it runs anywhere the broker does.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthProvider, AuthRequest, AuthResult, PluginContext } from '../../src/plugins/types';

export const METHOD = 'SCRAM-RTK';
const NONCE_BYTES = 32;
const PENDING_MS = 60_000;
/** MQTT 5 reason codes used here (named as in the specification). */
const NotAuthorized = 0x87;
const ProtocolError = 0x82;
const BadAuthenticationMethod = 0x8c;

export interface ScramCredentials {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

function hmac(key: Buffer, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** What the server stores for a password (never the password itself). */
export function scramCredentials(password: string, salt: Buffer, iterations: number): ScramCredentials {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  return { salt, iterations, storedKey: createHash('sha256').update(clientKey).digest(), serverKey: hmac(salted, 'Server Key') };
}

export function authMessage(username: string, clientNonce: Buffer, serverNonce: Buffer): Buffer {
  return Buffer.concat([Buffer.from(username, 'utf8'), Buffer.from([0]), clientNonce, serverNonce]);
}

/**
 * The client's side of the exchange: from the server's first answer, the proof to send and the
 * server signature to expect in the CONNACK.
 */
export function clientFinal(
  username: string,
  password: string,
  clientNonce: Buffer,
  serverFirst: Buffer,
): { proof: Buffer; serverSignature: Buffer } {
  const serverNonce = serverFirst.subarray(0, NONCE_BYTES);
  const iterations = serverFirst.readUInt32BE(NONCE_BYTES);
  const salt = serverFirst.subarray(NONCE_BYTES + 4);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = createHash('sha256').update(clientKey).digest();
  const message = authMessage(username, clientNonce, serverNonce);
  return { proof: xor(clientKey, hmac(storedKey, message)), serverSignature: hmac(hmac(salted, 'Server Key'), message) };
}

interface UserRecord {
  creds: ScramCredentials;
  tenantId: string;
  userId: string;
}

interface Pending {
  username: string;
  user: UserRecord | undefined;
  message: Buffer;
  until: number;
}

export interface ScramConfig {
  iterations?: number;
  users: Record<
    string,
    { tenant: string; user?: string; password?: string; salt?: string; iterations?: number; storedKey?: string; serverKey?: string }
  >;
}

function parseConfig(raw: Record<string, unknown>): Map<string, UserRecord> {
  const iterations = raw.iterations ?? 4096;
  if (typeof iterations !== 'number' || !Number.isInteger(iterations) || iterations < 1) throw new Error('iterations: expected a positive integer');
  const users = raw.users;
  if (typeof users !== 'object' || users === null || Array.isArray(users)) throw new Error('users: expected a mapping of user names');
  const out = new Map<string, UserRecord>();
  for (const [name, v] of Object.entries(users as ScramConfig['users'])) {
    if (typeof v?.tenant !== 'string' || v.tenant === '') throw new Error(`users.${name}.tenant: expected a tenant id`);
    let creds: ScramCredentials;
    if (typeof v.password === 'string') {
      creds = scramCredentials(v.password, v.salt ? Buffer.from(v.salt, 'base64') : randomBytes(16), v.iterations ?? iterations);
    } else if (v.salt && v.storedKey && v.serverKey) {
      creds = {
        salt: Buffer.from(v.salt, 'base64'),
        iterations: v.iterations ?? iterations,
        storedKey: Buffer.from(v.storedKey, 'base64'),
        serverKey: Buffer.from(v.serverKey, 'base64'),
      };
    } else {
      throw new Error(`users.${name}: give password, or salt, storedKey and serverKey`);
    }
    out.set(name, { creds, tenantId: v.tenant, userId: v.user ?? name });
  }
  return out;
}

export class ScramAuthProvider implements AuthProvider {
  /** Exchanges waiting for the client's proof, by connection. */
  private readonly pending = new Map<string, Pending>();
  /** Makes up salts of unknown users (stable per name for the life of the process). */
  private readonly fakeSaltKey = randomBytes(32);

  constructor(
    private readonly users: Map<string, UserRecord>,
    private readonly iterations: number,
    private readonly ctx: PluginContext,
  ) {}

  /** Exchanges in progress (for tests). */
  get inProgress(): number {
    return this.pending.size;
  }

  authenticate(req: AuthRequest): AuthResult {
    if (req.authMethod !== METHOD) return { ok: 'skip' };
    const clientNonce = req.authData;
    if (!req.username || !clientNonce || clientNonce.length < 16 || clientNonce.length > 255) {
      return { ok: false, reasonCode: NotAuthorized, reasonString: `${METHOD} needs a user name and a client nonce of 16 to 255 bytes` };
    }
    const now = this.ctx.now();
    this.prune(now);
    const user = this.users.get(req.username);
    const salt = user?.creds.salt ?? hmac(this.fakeSaltKey, req.username).subarray(0, 16);
    const iterations = user?.creds.iterations ?? this.iterations;
    const serverNonce = randomBytes(NONCE_BYTES);
    // A new exchange (e.g. re-authentication) replaces any earlier one of this connection.
    this.pending.set(keyOf(req), { username: req.username, user, message: authMessage(req.username, clientNonce, serverNonce), until: now + PENDING_MS });
    const iter = Buffer.alloc(4);
    iter.writeUInt32BE(iterations);
    return { ok: 'continue', authData: Buffer.concat([serverNonce, iter, salt]) };
  }

  continueAuth(req: AuthRequest, step: number): AuthResult {
    const key = keyOf(req);
    const p = this.pending.get(key);
    this.pending.delete(key);
    if (req.authMethod !== METHOD) return { ok: false, reasonCode: BadAuthenticationMethod };
    if (!p || step !== 1 || p.until <= this.ctx.now()) return { ok: false, reasonCode: ProtocolError, reasonString: `no ${METHOD} exchange in progress` };
    const proof = req.authData;
    if (!p.user || !proof || proof.length !== 32) return { ok: false, reasonCode: NotAuthorized };
    const { storedKey, serverKey } = p.user.creds;
    const clientKey = xor(proof, hmac(storedKey, p.message));
    if (!timingSafeEqual(createHash('sha256').update(clientKey).digest(), storedKey)) return { ok: false, reasonCode: NotAuthorized };
    return { ok: true, tenantId: p.user.tenantId, userId: p.user.userId, authData: hmac(serverKey, p.message) };
  }

  private prune(now: number): void {
    for (const [k, p] of this.pending) if (p.until <= now) this.pending.delete(k);
  }

  close(): void {
    this.pending.clear();
  }
}

/** One exchange per network connection (listener, address and port tell live connections apart). */
function keyOf(req: AuthRequest): string {
  return `${req.conn.listener}|${req.conn.remoteAddress}|${req.conn.remotePort}`;
}

export function create(config: Record<string, unknown>, ctx: PluginContext): ScramAuthProvider {
  const users = parseConfig(config);
  return new ScramAuthProvider(users, (config.iterations as number | undefined) ?? 4096, ctx);
}
