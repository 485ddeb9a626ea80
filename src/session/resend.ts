/**
 * The in-flight messages of a session that a client resumes: PUBREL again for a QoS 2 message
 * already released, the PUBLISH again (DUP set, same packet id [MQTT-4.4.0-1]) for the others, but
 * no more PUBLISHes unacknowledged than the client's Receive Maximum allows [MQTT-3.3.4-9], even if
 * the last connection allowed more: what does not fit waits and goes out as acknowledgements free
 * the window.
 */
import { OutState, type Outbound, type SessionLink } from './outbound';

/** A message the client may not receive (too large, not authorized): it leaves the session. */
export type Refused = (out: Outbound) => void;

/** Resends what fits the window; returns what waits (in order), or undefined. */
export function resendInflight(inflight: Map<number, Outbound>, link: SessionLink, refused: Refused): Outbound[] | undefined {
  let sent = 0;
  let waiting: Outbound[] | undefined;
  for (const out of inflight.values()) {
    if (out.state === OutState.Released) {
      // Counts until PUBCOMP, like the PUBLISH it completes [MQTT-4.9.0-2].
      link.writePubrel(out.packetId);
      sent++;
    } else if (sent >= link.sendWindow) {
      (waiting ??= []).push(out);
    } else if (link.writePublish(out.msg, out.qos, out.retain, out.subIds, out.packetId, true) !== undefined) {
      refused(out);
    } else {
      sent++;
    }
  }
  return waiting;
}

/**
 * Resends waiting messages while the window and the socket allow (those the client acknowledged
 * meanwhile, from its last connection, are gone from `inflight`); returns what still waits.
 */
export function resendWaiting(waiting: Outbound[], inflight: Map<number, Outbound>, link: SessionLink, refused: Refused): Outbound[] | undefined {
  const left = waiting.filter((out) => inflight.get(out.packetId) === out);
  while (left.length > 0 && inflight.size - left.length < link.sendWindow && link.writable) {
    const out = left.shift()!;
    if (link.writePublish(out.msg, out.qos, out.retain, out.subIds, out.packetId, true) !== undefined) refused(out);
  }
  return left.length > 0 ? left : undefined;
}
