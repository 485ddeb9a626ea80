/**
 * An idle connection: CONNECT, CONNACK, then only keepalive pings.
 */
import { Conn } from './conn';
import type { Context } from './context';

export class IdleConn extends Conn {
  constructor(ctx: Context, clientId: string) {
    super(ctx, clientId, undefined, false);
  }

  protected onPacket(first: number): void {
    const type = first >> 4;
    if (type === 13) {
      if (this.pingsOut > 0) this.pingsOut--;
    } else if (type === 14) {
      this.fail('DISCONNECT from the broker');
    } else {
      this.ctx.counters.protocolErrors++;
    }
  }

  protected afterRead(): void {}
}
