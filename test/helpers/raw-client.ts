/**
 * A raw MQTT socket for byte-level tests: writes exact bytes, decodes what the broker sends with
 * Ratatosk's own decoder, and reports when the broker closes the connection.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { PacketDecoder } from '../../src/codec/decoder';
import { encodePacket } from '../../src/codec/encoder';
import type { Packet, ProtocolVersion } from '../../src/codec/packets';

export class RawClient {
  readonly packets: Packet[] = [];
  closed = false;
  private readonly decoder: PacketDecoder;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly socket: Socket,
    version: ProtocolVersion,
  ) {
    this.decoder = new PacketDecoder({ onPacket: (p) => this.onPacket(p) }, { protocolVersion: version });
    socket.on('data', (chunk) => {
      this.decoder.push(chunk);
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number, version: ProtocolVersion = 5): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => resolve(new RawClient(s, version)));
      s.once('error', reject);
    });
  }

  set version(v: ProtocolVersion) {
    this.decoder.protocolVersion = v;
  }

  write(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  send(packet: Packet, version: ProtocolVersion): void {
    this.write(encodePacket(packet, version));
  }

  /** Waits for the next packet matching `type` (or any), or for the close; returns undefined when closed. */
  async next(type?: number, ms = 3000): Promise<Packet | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.packets.findIndex((p) => type === undefined || p.type === type);
      if (i >= 0) return this.packets.splice(i, 1)[0];
      if (this.closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for packet type ${type ?? 'any'}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits until the broker closes the connection. */
  async waitClosed(ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('connection still open');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private onPacket(p: Packet): void {
    this.packets.push(p);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
