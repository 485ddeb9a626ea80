/**
 * CONNECT timeout (MQTT 5 section 3.1.4, 3.1.1 section 3.1.4: a server that does not receive a
 * CONNECT within a reasonable time closes the connection). The tenant's connectTimeout is 1 s, and
 * it counts from the socket opening, so trickling bytes does not extend it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker';
import { CONNECT_V5, Probe, closeProbes, connected, expectAlive, expectClosedWithoutSession, guarded, sleep } from './util';

let tb: TestBroker;
before(async () => {
  tb = await startBroker({ tenants: { default: { connectTimeout: 1 } } });
});
after(async () => {
  closeProbes();
  await tb.stop();
});

/** Waits for the close and returns how long after opening it came. */
async function closedAfter(p: Probe, opened: number): Promise<number> {
  await expectClosedWithoutSession(p, 4000);
  return Date.now() - opened;
}

test('(3.1.4) a socket that sends nothing is closed after the CONNECT timeout', () =>
  guarded(tb, async () => {
    const opened = Date.now();
    const p = await Probe.open(tb.port);
    const ms = await closedAfter(p, opened);
    assert.ok(ms >= 900 && ms < 3000, `closed after ${ms} ms, expected about 1000`);
  }));

test('(3.1.4) a socket that sends half a CONNECT and stops is closed after the CONNECT timeout', () =>
  guarded(tb, async () => {
    const opened = Date.now();
    const p = await Probe.open(tb.port);
    p.write(CONNECT_V5.subarray(0, 8)); // fixed header, protocol name "MQTT", then nothing
    const ms = await closedAfter(p, opened);
    assert.ok(ms >= 900 && ms < 3000, `closed after ${ms} ms, expected about 1000`);
  }));

test('(3.1.4) a CONNECT trickled one byte per 150 ms is closed at the deadline, not extended by activity', () =>
  guarded(tb, async () => {
    const opened = Date.now();
    const p = await Probe.open(tb.port);
    const trickle = (async () => {
      for (const b of CONNECT_V5) {
        if (p.closed) return;
        p.write([b]);
        await sleep(150);
      }
    })();
    const ms = await closedAfter(p, opened);
    await trickle;
    assert.ok(ms >= 900 && ms < 2000, `closed after ${ms} ms; all ${CONNECT_V5.length} bytes take ${CONNECT_V5.length * 150} ms`);
  }));

test('(3.1.4) a client that completed CONNECT in time is not closed by the CONNECT timeout', () =>
  guarded(tb, async () => {
    const p = await connected(tb.port, 5);
    await sleep(1500);
    await expectAlive(p);
    p.close();
  }));
