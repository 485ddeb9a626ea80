/**
 * The login guard (auth.loginGuard) end to end: a client guessing passwords against the `file`
 * provider from 127.0.0.1 is answered at full speed for `maxFailures` attempts, then every further
 * refusal waits at least 250 ms, doubling each time up to `maxDelayMs`; a successful login clears
 * its user name's record; guesses sent in parallel are refused while one waits.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/auth/passwd';
import type { TestBroker } from '../helpers/broker';
import { attempt, end, hx, RC, RC311, start } from './helpers';

const MAX_FAILURES = 3;
const BASE_DELAY_MS = 250;

describe('login guard', () => {
  let dir: string;
  let tb: TestBroker;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtk-guard-'));
    const path = join(dir, 'users.yaml');
    writeFileSync(path, `users:\n  - username: alice\n    password: "${await hashPassword('right')}"\n    tenant: acme\n`);
    tb = await start({
      auth: {
        providers: [{ type: 'file', path, cacheSeconds: 0 }],
        loginGuard: { maxFailures: MAX_FAILURES, windowSeconds: 60, maxDelayMs: 1000 },
      },
    });
  });

  after(async () => {
    await tb.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One wrong password; the time the refusal took. */
  async function guess(i: number, version: 4 | 5 = 5): Promise<number> {
    const a = await attempt(tb.port, { username: 'alice', password: `guess-${i}`, protocolVersion: version });
    assert.equal(a.code, version === 5 ? RC.BadUserNameOrPassword : RC311.BadUserNameOrPassword, `guess ${i}: ${hx(a.code)}`);
    return a.ms;
  }

  it('after maxFailures refusals, each further refusal takes at least 250 ms, growing; a successful login clears the address', { timeout: 30_000 }, async () => {
    // Unthrottled: the guesses are answered as fast as the password check allows.
    const fast: number[] = [];
    for (let i = 1; i <= MAX_FAILURES; i++) fast.push(await guess(i));
    for (const [i, ms] of fast.entries()) assert.ok(ms < BASE_DELAY_MS, `guess ${i + 1} took ${ms} ms before any throttling`);

    // Throttled: 250, 500, 1000 (maxDelayMs), 1000 ms at least, and refused all the same (MQTT 3.1.1 too).
    const slow: number[] = [];
    for (let i = 1; i <= 4; i++) slow.push(await guess(MAX_FAILURES + i, i === 4 ? 4 : 5));
    const floors = [BASE_DELAY_MS, 2 * BASE_DELAY_MS, 4 * BASE_DELAY_MS, 4 * BASE_DELAY_MS];
    for (const [i, ms] of slow.entries()) assert.ok(ms >= floors[i]! - 10, `guess ${MAX_FAILURES + i + 1} took ${ms} ms, expected at least ${floors[i]}`);
    assert.ok(slow[1]! > slow[0]! && slow[2]! > slow[1]!, `delays grow: ${slow.join(', ')} ms`);
    assert.ok(slow[3]! < 4 * BASE_DELAY_MS + 500, `capped at maxDelayMs: ${slow[3]} ms`);

    // The right password still gets in (after the same wait), and that clears the address.
    const ok = await attempt(tb.port, { username: 'alice', password: 'right' });
    assert.equal(ok.code, 0, `the right password: ${hx(ok.code)}`);
    await end(ok.client);

    const again: number[] = [];
    for (let i = 1; i <= MAX_FAILURES; i++) again.push(await guess(100 + i));
    for (const [i, ms] of again.entries()) assert.ok(ms < BASE_DELAY_MS, `after a success, guess ${i + 1} took ${ms} ms`);
    const next = await guess(200);
    assert.ok(next >= BASE_DELAY_MS - 10, `the count starts over: guess ${MAX_FAILURES + 1} after the success took ${next} ms`);
  });

  it('guesses sent in parallel once slowed down: one waits and is checked, the others are refused at once (0x9F)', { timeout: 30_000 }, async () => {
    for (let i = 0; i < MAX_FAILURES; i++) await attempt(tb.port, { username: 'bob', password: `p-${i}` });
    const all = await Promise.all(Array.from({ length: 5 }, (_, i) => attempt(tb.port, { username: 'bob', password: `parallel-${i}` })));
    const checked = all.filter((a) => a.code === RC.BadUserNameOrPassword);
    const refused = all.filter((a) => a.code === RC.ConnectionRateExceeded);
    assert.equal(checked.length, 1, `codes ${all.map((a) => hx(a.code)).join(' ')}`);
    assert.equal(refused.length, 4, `codes ${all.map((a) => hx(a.code)).join(' ')}`);
    assert.ok(checked[0]!.ms >= BASE_DELAY_MS - 10, `the checked guess waited ${checked[0]!.ms} ms`);
    for (const r of refused) assert.ok(r.ms < BASE_DELAY_MS, `a refused guess took ${r.ms} ms`);
  });
});
