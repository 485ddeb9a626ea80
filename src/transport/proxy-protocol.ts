/**
 * HAProxy PROXY protocol, versions 1 (text) and 2 (binary): the header a load balancer writes before
 * the client's bytes to tell the original source address. Parsed incrementally from the first
 * chunks of a socket; whatever follows the header is handed on untouched.
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */

export type ProxyMode = 'v1' | 'v2' | 'auto';

export interface ProxyAddress {
  /** Address family as the header states it; 'unknown' / 'local' mean "use the socket's own". */
  family: 'tcp4' | 'tcp6' | 'unknown' | 'local' | 'unix';
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
}

export type ProxyParse =
  | { state: 'more' }
  | { state: 'done'; address: ProxyAddress | undefined; rest: Buffer }
  | { state: 'error'; message: string };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** A v1 header is at most 107 bytes including CRLF. */
const V1_MAX = 107;
/** A v2 header we accept: 16 bytes + at most 64 KiB of addresses and TLVs. */
const V2_MAX = 16 + 65535;

/**
 * Parses a PROXY header at the start of `buf` (all bytes received so far). `auto` accepts v1, v2 or
 * no header at all (then the address is undefined and every byte is `rest`).
 */
export function parseProxyHeader(buf: Buffer, mode: ProxyMode): ProxyParse {
  const v2Possible = mode !== 'v1' && startsWithPartial(buf, V2_SIGNATURE);
  const v1Possible = mode !== 'v2' && startsWithPartial(buf, V1_PREFIX);
  if (v2Possible && buf.length >= V2_SIGNATURE.length) return parseV2(buf);
  if (v1Possible && buf.length >= V1_PREFIX.length) return parseV1(buf);
  if (v1Possible || v2Possible) return { state: 'more' };
  if (mode === 'auto') return { state: 'done', address: undefined, rest: buf };
  return { state: 'error', message: `expected a PROXY protocol ${mode} header` };
}

function startsWithPartial(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

function parseV1(buf: Buffer): ProxyParse {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) {
    return buf.length >= V1_MAX ? { state: 'error', message: 'PROXY v1 header longer than 107 bytes' } : { state: 'more' };
  }
  if (end + 2 > V1_MAX) return { state: 'error', message: 'PROXY v1 header longer than 107 bytes' };
  const line = buf.toString('latin1', 0, end);
  const parts = line.split(' ');
  const rest = buf.subarray(end + 2);
  if (parts[1] === 'UNKNOWN') return { state: 'done', address: local('unknown'), rest };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) {
    return { state: 'error', message: 'malformed PROXY v1 header' };
  }
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const family = proto === 'TCP4' ? 'tcp4' : 'tcp6';
  if (!validAddress(src, family) || !validAddress(dst, family)) return { state: 'error', message: 'bad address in PROXY v1 header' };
  const sp = portOf(sport);
  const dp = portOf(dport);
  if (sp < 0 || dp < 0) return { state: 'error', message: 'bad port in PROXY v1 header' };
  return { state: 'done', address: { family, sourceAddress: src, sourcePort: sp, destinationAddress: dst, destinationPort: dp }, rest };
}

function parseV2(buf: Buffer): ProxyParse {
  if (buf.length < 16) return { state: 'more' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { state: 'error', message: 'PROXY v2 header with a version other than 2' };
  const command = verCmd & 0x0f;
  if (command > 1) return { state: 'error', message: 'PROXY v2 header with an unknown command' };
  const famProto = buf[13]!;
  const length = buf.readUInt16BE(14);
  if (16 + length > V2_MAX) return { state: 'error', message: 'PROXY v2 header too long' };
  if (buf.length < 16 + length) return { state: 'more' };
  const rest = buf.subarray(16 + length);
  if (command === 0) return { state: 'done', address: local('local'), rest }; // LOCAL: health check by the proxy itself
  const family = famProto >> 4;
  const body = buf.subarray(16, 16 + length);
  if (family === 0x1) {
    if (length < 12) return { state: 'error', message: 'PROXY v2 IPv4 addresses truncated' };
    return {
      state: 'done',
      address: {
        family: 'tcp4',
        sourceAddress: `${body[0]}.${body[1]}.${body[2]}.${body[3]}`,
        destinationAddress: `${body[4]}.${body[5]}.${body[6]}.${body[7]}`,
        sourcePort: body.readUInt16BE(8),
        destinationPort: body.readUInt16BE(10),
      },
      rest,
    };
  }
  if (family === 0x2) {
    if (length < 36) return { state: 'error', message: 'PROXY v2 IPv6 addresses truncated' };
    return {
      state: 'done',
      address: {
        family: 'tcp6',
        sourceAddress: ipv6(body.subarray(0, 16)),
        destinationAddress: ipv6(body.subarray(16, 32)),
        sourcePort: body.readUInt16BE(32),
        destinationPort: body.readUInt16BE(34),
      },
      rest,
    };
  }
  if (family === 0x3) return { state: 'done', address: local('unix'), rest };
  if (family === 0x0) return { state: 'done', address: local('unknown'), rest };
  return { state: 'error', message: 'PROXY v2 header with an unknown address family' };
}

function local(family: 'unknown' | 'local' | 'unix'): ProxyAddress {
  return { family, sourceAddress: '', sourcePort: 0, destinationAddress: '', destinationPort: 0 };
}

/** An IPv6 address in its short form (`2001:db8::7`), as sockets report addresses. */
function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function portOf(s: string): number {
  if (!/^\d{1,5}$/.test(s)) return -1;
  const n = Number(s);
  return n <= 65535 ? n : -1;
}

function validAddress(s: string, family: 'tcp4' | 'tcp6'): boolean {
  if (family === 'tcp4') {
    const parts = s.split('.');
    return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
  }
  return /^[0-9a-fA-F:.]+$/.test(s) && s.includes(':');
}
