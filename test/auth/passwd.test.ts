/**
 * scrypt password hashes (src/auth/passwd.ts) and `ratatosk passwd` (src/cli/passwd.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { hashPassword, parseHash, verifyPassword } from '../../src/auth/passwd';
import { runPasswd, type PasswdIO } from '../../src/cli/passwd';

const HASH = /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;
const MAIN = resolve(__dirname, '../../src/main.js');

function io(stdinText?: string): PasswdIO & { out: () => string; err: () => string } {
  const stdin = new PassThrough();
  if (stdinText !== undefined) stdin.end(stdinText);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { stdin, stdout, stderr, out: () => out, err: () => err };
}

describe('hashPassword / verifyPassword', () => {
  test('a hash has the documented format: N=16384, r=8, p=1, 16-byte salt, 32-byte key', async () => {
    const h = await hashPassword('secret');
    assert.match(h, HASH);
    const parsed = parseHash(h);
    assert.ok(typeof parsed !== 'string');
    assert.equal(parsed.salt.length, 16);
    assert.equal(parsed.key.length, 32);
  });

  test('the right password verifies, a wrong one does not; salts differ between hashes', async () => {
    const a = await hashPassword('secret');
    const b = await hashPassword('secret');
    assert.notEqual(a, b, 'two hashes of one password share a salt');
    assert.equal(await verifyPassword('secret', a), true);
    assert.equal(await verifyPassword(Buffer.from('secret'), b), true);
    assert.equal(await verifyPassword('Secret', a), false);
    assert.equal(await verifyPassword('', a), false);
  });

  test('hashes with other scrypt parameters verify too (parameters come from the hash)', async () => {
    const h = await hashPassword('pw', { N: 1024, r: 4, p: 2 });
    assert.match(h, /^scrypt\$1024\$4\$2\$/);
    assert.equal(await verifyPassword('pw', h), true);
  });

  test('malformed hashes are described and never verify', async () => {
    assert.match(parseHash('plain-text') as string, /expected scrypt\$/);
    assert.match(parseHash('scrypt$1000$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==') as string, /power of two/);
    assert.match(parseHash(`scrypt$${1 << 24}$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==`) as string, /power of two/);
    assert.match(parseHash('scrypt$16384$0$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==') as string, /r must be/);
    assert.match(parseHash('scrypt$16384$8$1$!!$AAAAAAAAAAAAAAAAAAAAAA==') as string, /base64/);
    assert.equal(await verifyPassword('x', 'plain-text'), false);
  });
});

describe('runPasswd', () => {
  test('prints a hash of the argument and returns 0', async () => {
    const s = io();
    assert.equal(await runPasswd(['hunter2'], s), 0);
    const h = s.out().trim();
    assert.match(h, HASH);
    assert.equal(await verifyPassword('hunter2', h), true);
  });

  test('without an argument it hashes the first line of stdin (CRLF or LF)', async () => {
    const s = io('from-stdin\r\nsecond line\n');
    assert.equal(await runPasswd([], s), 0);
    assert.equal(await verifyPassword('from-stdin', s.out().trim()), true);
  });

  test('an empty password or extra arguments are usage errors (exit code 2)', async () => {
    const empty = io('');
    assert.equal(await runPasswd([], empty), 2);
    assert.match(empty.err(), /empty/);
    assert.equal(empty.out(), '');
    const extra = io();
    assert.equal(await runPasswd(['a', 'b'], extra), 2);
  });

  test('`ratatosk passwd secret` from the command line prints a verifying hash', async () => {
    const out = await new Promise<string>((res, rej) =>
      execFile(process.execPath, [MAIN, 'passwd', 'secret'], { timeout: 15_000 }, (err, stdout) => (err ? rej(err) : res(stdout))),
    );
    assert.equal(await verifyPassword('secret', out.trim()), true);
  });

  test('`echo pw | ratatosk passwd` reads standard input', async () => {
    const out = await new Promise<string>((res, rej) => {
      const child = execFile(process.execPath, [MAIN, 'passwd'], { timeout: 15_000 }, (err, stdout) => (err ? rej(err) : res(stdout)));
      child.stdin!.end('piped\n');
    });
    assert.equal(await verifyPassword('piped', out.trim()), true);
  });
});
