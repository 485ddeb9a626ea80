/**
 * What the connection layer sees of a network connection, whatever carries it (TCP, TLS, WS, WSS).
 * Writes are batched: every write made during one turn of the event loop reaches the socket as one
 * write when the turn ends (see socket-writer.ts).
 */
import type { ConnectionInfo } from '../plugins/types';

export interface TransportHandler {
  onData(chunk: Buffer): void;
  /** The peer or the network closed the connection, or it failed; called once. */
  onClose(error: Error | undefined): void;
  /** The outgoing buffer has gone below its high-water mark after being above it. */
  onDrain(): void;
  /**
   * The peer will send nothing more (TCP FIN; plain TCP only). The handler ends the connection
   * with end() once it has handled what came before.
   */
  onEnd(): void;
}

export interface Transport {
  readonly info: ConnectionInfo;
  bind(handler: TransportHandler): void;
  /** Queues bytes for the end of this event-loop turn. Ignored once closed. */
  write(data: Buffer): void;
  /** Copies bytes into this turn's output; returns their offset in `tail`, -1 once closed. */
  append(data: Buffer): number;
  /** The output chunk of the last `append`, where its bytes may be patched until the turn ends. */
  readonly tail: Buffer;
  /** Bytes queued in Ratatosk and in the socket, not yet handed to the kernel. */
  readonly pendingBytes: number;
  /** Bytes the socket itself holds, handed over but not yet taken by the kernel. */
  readonly socketBacklog: number;
  /** Bytes the kernel has taken since the connection opened (grows while the client reads). */
  readonly bytesTaken: number;
  /** Whether more can be written without going over the high-water mark. */
  readonly writable: boolean;
  /** Keeps what is written from the socket until releaseOutput (ending meanwhile drops it). */
  holdOutput(): void;
  releaseOutput(): void;
  /** Stop / restart reading (TCP backpressure towards the peer). */
  pause(): void;
  resume(): void;
  /** Flushes what is queued, then closes. */
  end(): void;
  /** Closes at once, dropping what is queued. */
  destroy(): void;
  readonly closed: boolean;
}
