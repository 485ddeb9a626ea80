/**
 * Reason codes where the packet decides what may be said: a refusal that comes after CONNACK (a
 * failed re-authentication) is told in a DISCONNECT, which has no 0x86, 0x88 or 0x8C.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { disconnectReason } from '../../src/connection/reason-map';

test('a refusal code DISCONNECT may carry is kept; the others become 0x87 Not authorized, or 0x80 for a server-side failure', () => {
  assert.equal(disconnectReason(0x87), 0x87, 'Not authorized');
  assert.equal(disconnectReason(0x97), 0x97, 'Quota exceeded');
  assert.equal(disconnectReason(0x9c), 0x9c, 'Use another server');
  assert.equal(disconnectReason(0x86), 0x87, 'Bad user name or password');
  assert.equal(disconnectReason(0x8c), 0x87, 'Bad authentication method');
  assert.equal(disconnectReason(0x84), 0x87, 'Unsupported protocol version');
  assert.equal(disconnectReason(0x88), 0x80, 'Server unavailable');
});
