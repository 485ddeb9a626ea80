/**
 * How long a subscriber whose socket holds a backlog may go without the kernel taking anything
 * before it counts as stalled: at least 250 ms, as long as the backlog takes at 1 MB/s, at most
 * 1 s (its publishers wait meanwhile).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STALL_MAX_MS, STALL_MS, stallWindow } from '../../src/session/backlog';

test('the stall window grows with the backlog at 1 MB/s, between 250 ms and 1 s', () => {
  assert.equal(stallWindow(0), STALL_MS);
  assert.equal(stallWindow(256 * 1024), STALL_MS);
  assert.equal(stallWindow(512 * 1024), 500);
  assert.equal(stallWindow(768 * 1024), 750);
  assert.equal(stallWindow(1024 * 1024), STALL_MAX_MS);
  assert.equal(stallWindow(16 * 1024 * 1024), STALL_MAX_MS, 'a huge backlog does not hold publishers for 16 s');
});
