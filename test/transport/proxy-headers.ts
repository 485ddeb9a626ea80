/**
 * PROXY protocol headers built by hand, as HAProxy writes them
 * (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt), for the unit and listener tests.
 */
import { isIPv4 } from 'node:net';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** v2 command nibble. */
export const LOCAL = 0x0;
export const PROXY = 0x1;
/** v2 address family and transport byte. */
export const UNSPEC = 0x00;
export const TCP4 = 0x11;
export const TCP6 = 0x21;
export const UNIX_STREAM = 0x31;

/** A v1 header line: `PROXY TCP4 src dst sport dport\r\n`. */
export function v1(proto: 'TCP4' | 'TCP6', src: string, dst: string, sport: number, dport: number): Buffer {
  return Buffer.from(`PROXY ${proto} ${src} ${dst} ${sport} ${dport}\r\n`, 'latin1');
}

export function v1Raw(line: string): Buffer {
  return Buffer.from(`${line}\r\n`, 'latin1');
}

export interface Tlv {
  type: number;
  value: Buffer;
}

/** One TLV: type, two-byte length, value. */
export function tlv(t: Tlv): Buffer {
  const h = Buffer.alloc(3);
  h[0] = t.type;
  h.writeUInt16BE(t.value.length, 1);
  return Buffer.concat([h, t.value]);
}

/** A v2 header with an explicit body (addresses then TLVs); `version` and `length` can be forged. */
export function v2Raw(opts: { command?: number; famProto: number; body: Buffer; version?: number; length?: number }): Buffer {
  const h = Buffer.alloc(16);
  V2_SIGNATURE.copy(h, 0);
  h[12] = ((opts.version ?? 2) << 4) | (opts.command ?? PROXY);
  h[13] = opts.famProto;
  h.writeUInt16BE(opts.length ?? opts.body.length, 14);
  return Buffer.concat([h, opts.body]);
}

function ipv4Bytes(a: string): Buffer {
  if (!isIPv4(a)) throw new Error(`not IPv4: ${a}`);
  return Buffer.from(a.split('.').map(Number));
}

/** 16 bytes of an IPv6 address written with or without `::`. */
export function ipv6Bytes(a: string): Buffer {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`not IPv6: ${a}`);
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** A v2 PROXY header for a TCP connection over IPv4 or IPv6, with optional TLVs. */
export function v2(src: string, dst: string, sport: number, dport: number, tlvs: Tlv[] = []): Buffer {
  const ip4 = isIPv4(src);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  const addrs = ip4 ? [ipv4Bytes(src), ipv4Bytes(dst)] : [ipv6Bytes(src), ipv6Bytes(dst)];
  return v2Raw({ famProto: ip4 ? TCP4 : TCP6, body: Buffer.concat([...addrs, ports, ...tlvs.map(tlv)]) });
}

/** A v2 LOCAL header (a health check by the proxy itself), optionally carrying addresses anyway. */
export function v2Local(body: Buffer = Buffer.alloc(0)): Buffer {
  return v2Raw({ command: LOCAL, famProto: body.length ? TCP4 : UNSPEC, body });
}

/** Typical TLVs: ALPN (0x01), authority (0x02), a NOOP (0x04) and a unique id (0x05). */
export const SAMPLE_TLVS: Tlv[] = [
  { type: 0x01, value: Buffer.from('mqtt') },
  { type: 0x02, value: Buffer.from('broker.example') },
  { type: 0x04, value: Buffer.alloc(5) },
  { type: 0x05, value: Buffer.from('0123456789abcdef') },
];
