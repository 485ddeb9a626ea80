/**
 * Password hashes for the users file: `scrypt$<N>$<r>$<p>$<salt base64>$<key base64>` (node:crypto
 * scrypt; new hashes use N=16384, r=8, p=1, a 16-byte random salt and a 32-byte key). Verification
 * runs in libuv's thread pool (it never blocks the event loop) and compares in constant time.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: Readonly<ScryptParams> = { N: 16384, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds on parameters read from a file, so a hostile hash cannot ask for gigabytes of memory. */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;

export interface ParsedHash extends ScryptParams {
  salt: Buffer;
  key: Buffer;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Splits a stored hash into its parts; a description of the problem when it is not one. */
export function parseHash(encoded: string): ParsedHash | string {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return 'expected scrypt$<N>$<r>$<p>$<salt>$<hash> (see `ratatosk passwd`)';
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  if (!/^\d+$/.test(n) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0) return `scrypt N must be a power of two from 2 to ${MAX_N}, got '${n}'`;
  if (!/^\d+$/.test(r) || R < 1 || R > MAX_R) return `scrypt r must be 1-${MAX_R}, got '${r}'`;
  if (!/^\d+$/.test(p) || P < 1 || P > MAX_P) return `scrypt p must be 1-${MAX_P}, got '${p}'`;
  if (!B64.test(salt) || !B64.test(key)) return 'salt and hash must be base64';
  const keyBuf = Buffer.from(key, 'base64');
  if (keyBuf.length < 16) return 'hash is shorter than 16 bytes';
  return { N, r: R, p: P, salt: Buffer.from(salt, 'base64'), key: keyBuf };
}

function derive(password: string | Buffer, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** A new hash of `password` with a random salt. */
export async function hashPassword(password: string | Buffer, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `password` matches the stored hash; false too when the hash is malformed. */
export async function verifyPassword(password: string | Buffer, encoded: string | ParsedHash): Promise<boolean> {
  const h = typeof encoded === 'string' ? parseHash(encoded) : encoded;
  if (typeof h === 'string') return false;
  const key = await derive(password, h.salt, h.key.length, h);
  return timingSafeEqual(key, h.key);
}
