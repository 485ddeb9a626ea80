/**
 * The login guard's bookkeeping: failures per user name and per address, what a success clears,
 * and one waiting attempt per address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginGuard, REFUSE_NOW } from '../../src/auth/login-guard';

function guard(): { g: LoginGuard; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  return { g: new LoginGuard({ maxFailures: 3, windowSeconds: 60, maxDelayMs: 4000 }, () => clock.now), clock };
}

test('guesses against one user name are slowed after maxFailures; a login to another account from the address does not clear them', () => {
  const { g } = guard();
  for (let i = 0; i < 3; i++) {
    assert.equal(g.delayFor('a', 'victim'), 0);
    g.failed('a', 'victim');
  }
  g.succeeded('a', 'attacker');
  const d = g.delayFor('a', 'victim');
  assert.ok(d >= 250, `delay ${d} after the attacker's own login`);
  g.waited('a');
  g.succeeded('a', 'victim');
  assert.equal(g.delayFor('a', 'victim'), 0, "the victim's own login clears its guesses");
});

test('guesses across many user names from one address are slowed after 4 × maxFailures', () => {
  const { g } = guard();
  for (let i = 0; i < 12; i++) {
    assert.equal(g.delayFor('a', `user-${i}`), 0, `guess ${i + 1}`);
    g.failed('a', `user-${i}`);
  }
  assert.ok(g.delayFor('a', 'user-99') >= 250, 'the 13th name guessed from the address waits');
  assert.equal(g.delayFor('b', 'user-99'), 0, 'another address does not');
});

test('while one attempt from an address waits, another that would wait is refused at once; after the wait, the next waits again', () => {
  const { g } = guard();
  for (let i = 0; i < 3; i++) g.failed('a', 'victim');
  const first = g.delayFor('a', 'victim');
  assert.ok(first > 0);
  assert.equal(g.delayFor('a', 'victim'), REFUSE_NOW, 'a parallel guess');
  assert.equal(g.delayFor('a', 'someone-else'), 0, 'an attempt that would not wait is not refused');
  g.waited('a');
  g.failed('a', 'victim');
  assert.ok(g.delayFor('a', 'victim') > first, 'the next guess waits, longer');
});

test('failures older than the window are forgotten', () => {
  const { g, clock } = guard();
  for (let i = 0; i < 3; i++) g.failed('a', 'victim');
  clock.now += 61_000;
  assert.equal(g.delayFor('a', 'victim'), 0);
});
