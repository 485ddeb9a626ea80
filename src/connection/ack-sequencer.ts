/**
 * Acknowledgements in the order their packets arrived [MQTT-4.6.0-2], even when some must wait for
 * storage: an acknowledgement that may go at once goes at once unless an earlier one still waits.
 */
import type { Packet } from '../codec/packets';

export interface AckSender {
  /** Sends the acknowledgement (failed: its message could not be stored). */
  deliverAck(ack: Packet, failed: boolean): void;
  storageFailed(err: unknown): void;
}

export class AckSequencer {
  private tail: Promise<void> | undefined = undefined;
  /** PUBACKs waiting (counted against the broker's Receive Maximum). */
  waitingPubacks = 0;

  constructor(private readonly sender: AckSender) {}

  /** Whether an acknowledgement still waits (a new one must then queue behind it). */
  get waiting(): boolean {
    return this.tail !== undefined;
  }

  /** Sends `ack` once `durable` resolves (and every earlier acknowledgement went); returns when. */
  after(durable: Promise<void> | undefined, ack: Packet): Promise<void> | undefined {
    if (durable === undefined && this.tail === undefined) {
      this.sender.deliverAck(ack, false);
      return undefined;
    }
    // A PUBREC that waits is already counted through the session's received QoS 2 ids.
    const counted = ack.type === 4;
    if (counted) this.waitingPubacks++;
    const tail: Promise<void> = Promise.all([this.tail, durable]).then(
      () => this.ready(tail, ack, false, counted),
      (err: unknown) => {
        this.sender.storageFailed(err);
        this.ready(tail, ack, true, counted);
      },
    );
    this.tail = tail;
    return tail;
  }

  private ready(tail: Promise<void>, ack: Packet, failed: boolean, counted: boolean): void {
    if (counted) this.waitingPubacks--;
    if (this.tail === tail) this.tail = undefined;
    this.sender.deliverAck(ack, failed);
  }
}
