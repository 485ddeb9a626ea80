/**
 * parseProxyHeader, byte by byte: every form of the PROXY protocol v1 and v2 header that HAProxy
 * writes, each split at every byte (the parser asks for more until the header is whole, then gives
 * the same answer and hands back what followed), `auto` without a header, every kind of malformed
 * header, and random bytes (fast-check) that must never throw nor change a decision once taken.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseProxyHeader, type ProxyAddress, type ProxyMode, type ProxyParse } from '../../src/transport/proxy-protocol';
import {
  LOCAL,
  PROXY,
  SAMPLE_TLVS,
  TCP4,
  TCP6,
  UNIX_STREAM,
  UNSPEC,
  V2_SIGNATURE,
  ipv6Bytes,
  tlv,
  v1,
  v1Raw,
  v2,
  v2Local,
  v2Raw,
} from './proxy-headers';
import { expandIPv6 } from './util';

const MODES: readonly ProxyMode[] = ['v1', 'v2', 'auto'];

/** What usually follows the header: the start of an MQTT CONNECT, or of a TLS ClientHello. */
const MQTT_CONNECT = Buffer.from([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x00]);
const TLS_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);

function addr(family: ProxyAddress['family'], src = '', sport = 0, dst = '', dport = 0): ProxyAddress {
  return { family, sourceAddress: src, sourcePort: sport, destinationAddress: dst, destinationPort: dport };
}
const NONE = (family: 'unknown' | 'local' | 'unix'): ProxyAddress => addr(family);

function show(r: ProxyParse): string {
  if (r.state === 'done') return `done ${JSON.stringify(r.address)} rest=${r.rest.toString('hex')}`;
  return r.state === 'error' ? `error: ${r.message}` : 'more';
}

function expectDone(r: ProxyParse, address: ProxyAddress | undefined, rest: Buffer, what: string): void {
  if (r.state !== 'done') assert.fail(`${what}: expected done, got ${show(r)}`);
  const got = r.address;
  if (address && address.family === 'tcp6') {
    if (got?.family !== 'tcp6') assert.fail(`${what}: expected tcp6, got ${JSON.stringify(got)}`);
    assert.equal(expandIPv6(got.sourceAddress), expandIPv6(address.sourceAddress), `${what}: source address`);
    assert.equal(expandIPv6(got.destinationAddress), expandIPv6(address.destinationAddress), `${what}: destination address`);
    assert.equal(got.sourcePort, address.sourcePort, `${what}: source port`);
    assert.equal(got.destinationPort, address.destinationPort, `${what}: destination port`);
  } else {
    assert.deepEqual(r.address, address, what);
  }
  assert.equal(r.rest.toString('hex'), rest.toString('hex'), `${what}: rest`);
}

function expectError(r: ProxyParse, what: string): void {
  if (r.state !== 'error') assert.fail(`${what}: expected error, got ${show(r)}`);
  assert.equal(typeof r.message, 'string');
  assert.ok(r.message.length > 0, `${what}: error without message`);
}

// ---- Valid headers ------------------------------------------------------------------------

interface Case {
  name: string;
  header: Buffer;
  modes: readonly ProxyMode[];
  address: ProxyAddress;
}

const MAX6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
const V1: readonly ProxyMode[] = ['v1', 'auto'];
const V2: readonly ProxyMode[] = ['v2', 'auto'];

const CASES: Case[] = [
  {
    name: 'v1 TCP4',
    header: v1('TCP4', '192.168.0.1', '192.168.0.11', 56324, 1883),
    modes: V1,
    address: addr('tcp4', '192.168.0.1', 56324, '192.168.0.11', 1883),
  },
  {
    name: 'v1 TCP4, extreme ports',
    header: v1('TCP4', '255.255.255.255', '0.0.0.0', 65535, 0),
    modes: V1,
    address: addr('tcp4', '255.255.255.255', 65535, '0.0.0.0', 0),
  },
  {
    name: 'v1 TCP6',
    header: v1('TCP6', '2001:db8::1', '2001:db8::2', 40000, 8883),
    modes: V1,
    address: addr('tcp6', '2001:db8::1', 40000, '2001:db8::2', 8883),
  },
  {
    name: 'v1 TCP6, longest addresses (104 bytes)',
    header: v1('TCP6', MAX6, MAX6, 65535, 65535),
    modes: V1,
    address: addr('tcp6', MAX6, 65535, MAX6, 65535),
  },
  { name: 'v1 UNKNOWN, short form', header: v1Raw('PROXY UNKNOWN'), modes: V1, address: NONE('unknown') },
  {
    name: 'v1 UNKNOWN, longest form (exactly 107 bytes, the maximum)',
    header: v1Raw(`PROXY UNKNOWN ${MAX6} ${MAX6} 65535 65535`),
    modes: V1,
    address: NONE('unknown'),
  },
  {
    name: 'v2 PROXY TCP/IPv4',
    header: v2('203.0.113.7', '10.0.0.1', 51000, 1883),
    modes: V2,
    address: addr('tcp4', '203.0.113.7', 51000, '10.0.0.1', 1883),
  },
  {
    name: 'v2 PROXY TCP/IPv4 with TLVs',
    header: v2('203.0.113.7', '10.0.0.1', 51000, 1883, SAMPLE_TLVS),
    modes: V2,
    address: addr('tcp4', '203.0.113.7', 51000, '10.0.0.1', 1883),
  },
  {
    name: 'v2 PROXY TCP/IPv6',
    header: v2('2001:db8::7', '2001:db8:1::1', 1, 65535),
    modes: V2,
    address: addr('tcp6', '2001:db8::7', 1, '2001:db8:1::1', 65535),
  },
  {
    name: 'v2 PROXY TCP/IPv6 with TLVs',
    header: v2('2001:db8::7', '2001:db8:1::1', 443, 8883, SAMPLE_TLVS),
    modes: V2,
    address: addr('tcp6', '2001:db8::7', 443, '2001:db8:1::1', 8883),
  },
  { name: 'v2 LOCAL, no addresses', header: v2Local(), modes: V2, address: NONE('local') },
  {
    name: 'v2 LOCAL carrying addresses (ignored)',
    header: v2Local(v2('198.51.100.1', '10.0.0.1', 1, 2).subarray(16)),
    modes: V2,
    address: NONE('local'),
  },
  { name: 'v2 PROXY UNSPEC', header: v2Raw({ famProto: UNSPEC, body: Buffer.alloc(0) }), modes: V2, address: NONE('unknown') },
  {
    name: 'v2 PROXY UNSPEC with TLVs',
    header: v2Raw({ famProto: UNSPEC, body: Buffer.concat(SAMPLE_TLVS.map(tlv)) }),
    modes: V2,
    address: NONE('unknown'),
  },
  {
    name: 'v2 PROXY UNIX stream (216 bytes of paths)',
    header: v2Raw({ famProto: UNIX_STREAM, body: Buffer.alloc(216, 0x2f) }),
    modes: V2,
    address: NONE('unix'),
  },
];

describe('valid headers, whole', () => {
  for (const c of CASES) {
    for (const mode of c.modes) {
      test(`${c.name} (${mode} mode)`, () => {
        expectDone(parseProxyHeader(c.header, mode), c.address, Buffer.alloc(0), 'header alone');
        expectDone(parseProxyHeader(Buffer.concat([c.header, MQTT_CONNECT]), mode), c.address, MQTT_CONNECT, 'header + CONNECT');
        expectDone(parseProxyHeader(Buffer.concat([c.header, TLS_HELLO]), mode), c.address, TLS_HELLO, 'header + ClientHello');
      });
    }
  }

  test('v1 header is at most 107 bytes: the longest UNKNOWN form is exactly that', () => {
    const longest = CASES.find((c) => c.name.startsWith('v1 UNKNOWN, longest'))!;
    assert.equal(longest.header.length, 107);
  });

  test('rest is every byte after the header, even a second header-looking line', () => {
    const h = v1('TCP4', '1.2.3.4', '5.6.7.8', 1, 2);
    const after = Buffer.concat([v1('TCP4', '9.9.9.9', '9.9.9.9', 9, 9), MQTT_CONNECT]);
    expectDone(parseProxyHeader(Buffer.concat([h, after]), 'v1'), addr('tcp4', '1.2.3.4', 1, '5.6.7.8', 2), after, 'two headers');
  });
});

describe('valid headers split at every byte', () => {
  for (const c of CASES) {
    for (const mode of c.modes) {
      test(`${c.name} (${mode} mode): 'more' until complete, then the same result and the bytes after as rest`, () => {
        const all = Buffer.concat([c.header, MQTT_CONNECT]);
        for (let i = 0; i <= all.length; i++) {
          const r = parseProxyHeader(all.subarray(0, i), mode);
          if (i < c.header.length) {
            assert.equal(r.state, 'more', `first ${i} of ${c.header.length} header bytes: ${show(r)}`);
          } else {
            expectDone(r, c.address, all.subarray(c.header.length, i), `first ${i} bytes`);
          }
        }
      });
    }
  }
});

describe('auto mode without a header', () => {
  const cases: [string, Buffer][] = [
    ['MQTT CONNECT', MQTT_CONNECT],
    ['TLS ClientHello', TLS_HELLO],
    ['HTTP upgrade request', Buffer.from('GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['one byte', Buffer.from([0x10])],
    ['"PRO" then something else than "XY "', Buffer.from('PROXZ')],
    ['v2 signature broken at its last byte', Buffer.concat([V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0b, 0x21, 0x11])])],
  ];
  for (const [name, bytes] of cases) {
    test(`${name}: done, no address, every byte is rest`, () => {
      expectDone(parseProxyHeader(bytes, 'auto'), undefined, bytes, name);
    });
  }

  test('nothing yet, or a prefix of either signature: more', () => {
    for (const b of [Buffer.alloc(0), Buffer.from('P'), Buffer.from('PROXY'), V2_SIGNATURE.subarray(0, 1), V2_SIGNATURE.subarray(0, 11), V2_SIGNATURE]) {
      assert.equal(parseProxyHeader(b, 'auto').state, 'more', `${b.toString('hex')}`);
    }
  });
});

// ---- Malformed headers --------------------------------------------------------------------

describe('errors', () => {
  const garbage: [string, Buffer][] = [
    ['HTTP request', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    ['MQTT CONNECT', MQTT_CONNECT],
    ['TLS ClientHello', TLS_HELLO],
    ['NUL bytes', Buffer.alloc(32)],
  ];
  for (const [name, bytes] of garbage) {
    test(`v1 and v2 modes: ${name} instead of a header`, () => {
      expectError(parseProxyHeader(bytes, 'v1'), `v1 mode, ${name}`);
      expectError(parseProxyHeader(bytes, 'v2'), `v2 mode, ${name}`);
    });
  }

  test('v1 mode refuses a v2 header, v2 mode refuses a v1 header', () => {
    expectError(parseProxyHeader(v2('1.2.3.4', '5.6.7.8', 1, 2), 'v1'), 'v2 header in v1 mode');
    expectError(parseProxyHeader(v1('TCP4', '1.2.3.4', '5.6.7.8', 1, 2), 'v2'), 'v1 header in v2 mode');
  });

  test('v1: over 107 bytes without CRLF is an error (106 is still more)', () => {
    const long = Buffer.from(`PROXY TCP4 ${'1'.repeat(200)}`, 'latin1');
    assert.equal(parseProxyHeader(long.subarray(0, 106), 'v1').state, 'more');
    for (const mode of V1) {
      expectError(parseProxyHeader(long.subarray(0, 107), mode), `107 bytes, ${mode}`);
      expectError(parseProxyHeader(long, mode), `200 bytes, ${mode}`);
    }
    // A lone LF is not the end of the line.
    const lf = Buffer.from(`PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n${'x'.repeat(100)}`, 'latin1');
    expectError(parseProxyHeader(lf, 'v1'), 'LF without CR');
  });

  test('v1: CRLF beyond byte 107 is an error', () => {
    const line = v1Raw(`PROXY UNKNOWN ${'f'.repeat(100)}`);
    assert.ok(line.length > 107);
    expectError(parseProxyHeader(line, 'v1'), 'UNKNOWN line of 116 bytes');
  });

  const badV1: [string, string][] = [
    ['source octet 256', 'PROXY TCP4 256.0.0.1 10.0.0.1 1 2'],
    ['three octets', 'PROXY TCP4 1.2.3 10.0.0.1 1 2'],
    ['five octets', 'PROXY TCP4 1.2.3.4.5 10.0.0.1 1 2'],
    ['letters in IPv4', 'PROXY TCP4 a.b.c.d 10.0.0.1 1 2'],
    ['empty octet', 'PROXY TCP4 1..3.4 10.0.0.1 1 2'],
    ['IPv6 under TCP4', 'PROXY TCP4 ::1 10.0.0.1 1 2'],
    ['IPv4 under TCP6', 'PROXY TCP6 10.0.0.1 ::1 1 2'],
    ['not hex in IPv6', 'PROXY TCP6 zz::1 ::1 1 2'],
    ['bad destination', 'PROXY TCP4 10.0.0.1 10.0.0.300 1 2'],
    ['source port 65536', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2'],
    ['destination port 99999', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 99999'],
    ['negative port', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2'],
    ['port with letters', 'PROXY TCP4 1.2.3.4 5.6.7.8 1a 2'],
    ['port in exponent form', 'PROXY TCP4 1.2.3.4 5.6.7.8 1e3 2'],
    ['six-digit port', 'PROXY TCP4 1.2.3.4 5.6.7.8 000001 2'],
    ['empty port', 'PROXY TCP4 1.2.3.4 5.6.7.8  2'],
    ['protocol TCP5', 'PROXY TCP5 1.2.3.4 5.6.7.8 1 2'],
    ['lower-case protocol', 'PROXY tcp4 1.2.3.4 5.6.7.8 1 2'],
    ['missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1'],
    ['extra field', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3'],
    ['two spaces after PROXY', 'PROXY  TCP4 1.2.3.4 5.6.7.8 1 2'],
    ['trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 '],
    ['nothing after PROXY', 'PROXY '],
  ];
  for (const [name, line] of badV1) {
    test(`v1: ${name}`, () => {
      for (const mode of V1) expectError(parseProxyHeader(Buffer.concat([v1Raw(line), MQTT_CONNECT]), mode), `${line} (${mode})`);
    });
  }

  const good = v2('1.2.3.4', '5.6.7.8', 1, 2);
  const badV2: [string, Buffer][] = [
    ['version 1', v2Raw({ version: 1, famProto: TCP4, body: good.subarray(16) })],
    ['version 3', v2Raw({ version: 3, famProto: TCP4, body: good.subarray(16) })],
    ['version 0', v2Raw({ version: 0, famProto: TCP4, body: good.subarray(16) })],
    ['command 2', v2Raw({ command: 2, famProto: TCP4, body: good.subarray(16) })],
    ['command 15', v2Raw({ command: 15, famProto: TCP4, body: good.subarray(16) })],
    ['family 4', v2Raw({ command: PROXY, famProto: 0x41, body: good.subarray(16) })],
    ['family 15', v2Raw({ command: PROXY, famProto: 0xf1, body: good.subarray(16) })],
    ['IPv4 addresses truncated (11 of 12 bytes)', v2Raw({ famProto: TCP4, body: good.subarray(16, 27) })],
    ['IPv4 with no addresses at all', v2Raw({ famProto: TCP4, body: Buffer.alloc(0) })],
    ['IPv6 addresses truncated (35 of 36 bytes)', v2Raw({ famProto: TCP6, body: Buffer.concat([ipv6Bytes('::1'), ipv6Bytes('::2'), Buffer.from([0, 1, 0])]) })],
    ['IPv6 header carrying only IPv4-sized addresses', v2Raw({ famProto: TCP6, body: good.subarray(16) })],
  ];
  for (const [name, header] of badV2) {
    test(`v2: ${name}`, () => {
      for (const mode of V2) expectError(parseProxyHeader(Buffer.concat([header, MQTT_CONNECT]), mode), `${name} (${mode})`);
    });
  }

  test('v2: the version and command are judged as soon as the 16-byte preamble is in', () => {
    const h = v2Raw({ version: 1, famProto: TCP4, body: good.subarray(16) });
    expectError(parseProxyHeader(h.subarray(0, 16), 'v2'), 'preamble of a version 1 header');
    assert.equal(parseProxyHeader(h.subarray(0, 15), 'v2').state, 'more');
  });

  test('v2: a LOCAL command is valid whatever the family byte says', () => {
    expectDone(parseProxyHeader(v2Raw({ command: LOCAL, famProto: 0x11, body: Buffer.alloc(0) }), 'v2'), NONE('local'), Buffer.alloc(0), 'LOCAL');
  });

  test('v2: a signature broken at any byte is an error in v2 mode', () => {
    for (let i = 0; i < V2_SIGNATURE.length; i++) {
      const h = Buffer.from(good);
      h[i] = h[i]! ^ 0x20;
      expectError(parseProxyHeader(h, 'v2'), `byte ${i} changed`);
    }
  });

  test('v2: a length that announces more bytes than came is more, not an error', () => {
    const h = v2Raw({ famProto: TCP4, body: good.subarray(16), length: 12 + 100 });
    assert.equal(parseProxyHeader(h, 'v2').state, 'more');
  });
});

// ---- Properties -----------------------------------------------------------------------------

const anyMode = fc.constantFrom<ProxyMode>(...MODES);
const u16 = fc.integer({ min: 0, max: 65535 });
const ipv6Groups = fc.array(u16, { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
const tlvs = fc.array(
  fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) }),
  { maxLength: 4 },
);

/** Valid headers of every kind, plus something after them. */
const validHeader = fc.oneof(
  fc.tuple(fc.ipV4(), fc.ipV4(), u16, u16).map(([s, d, sp, dp]) => v1('TCP4', s, d, sp, dp)),
  fc.tuple(ipv6Groups, ipv6Groups, u16, u16).map(([s, d, sp, dp]) => v1('TCP6', s, d, sp, dp)),
  fc.tuple(fc.ipV4(), fc.ipV4(), u16, u16, tlvs).map(([s, d, sp, dp, t]) => v2(s, d, sp, dp, t)),
  fc.tuple(ipv6Groups, ipv6Groups, u16, u16, tlvs).map(([s, d, sp, dp, t]) => v2(s, d, sp, dp, t)),
  fc.constant(v2Local()),
  fc.constant(v1Raw('PROXY UNKNOWN')),
);

/** Inputs that reach deep into the parser: valid headers, mutated, with random tails; or pure noise. */
const input = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.constantFrom(Buffer.from('PROXY '), V2_SIGNATURE, Buffer.concat([V2_SIGNATURE, Buffer.from([0x21])])), fc.uint8Array({ maxLength: 200 })).map(
    ([p, a]) => Buffer.concat([p, a]),
  ),
  fc
    .tuple(validHeader, fc.uint8Array({ maxLength: 40 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }))
    .map(([h, tail, muts]) => {
      const b = Buffer.concat([h, tail]);
      for (const [at, v] of muts) b[at % b.length] = v;
      return b;
    }),
);

describe('properties (fast-check)', () => {
  test('random bytes never throw, in any mode, and rest is always the tail of the input', () => {
    fc.assert(
      fc.property(input, anyMode, (buf, mode) => {
        const r = parseProxyHeader(buf, mode);
        assert.ok(r.state === 'more' || r.state === 'done' || r.state === 'error');
        if (r.state === 'done') {
          assert.ok(r.rest.length <= buf.length);
          assert.ok(r.rest.equals(buf.subarray(buf.length - r.rest.length)), 'rest must be the tail of the input');
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('a decision once taken on a prefix never changes when more bytes arrive', () => {
    fc.assert(
      fc.property(input, anyMode, fc.nat(), (buf, mode, cut) => {
        const at = buf.length === 0 ? 0 : cut % (buf.length + 1);
        const early = parseProxyHeader(buf.subarray(0, at), mode);
        if (early.state === 'more') return;
        const full = parseProxyHeader(buf, mode);
        assert.equal(full.state, early.state, `prefix ${show(early)}, whole ${show(full)}`);
        if (early.state === 'done' && full.state === 'done') {
          assert.deepEqual(full.address, early.address);
          assert.ok(full.rest.equals(Buffer.concat([early.rest, buf.subarray(at)])));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('v1 and v2 headers with any addresses and ports parse back to them', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.ipV4(), fc.ipV4(), ipv6Groups, ipv6Groups, u16, u16, tlvs, (isV2, isV6, s4, d4, s6, d6, sp, dp, t) => {
        const [s, d] = isV6 ? [s6, d6] : [s4, d4];
        const family = isV6 ? 'tcp6' : 'tcp4';
        const header = isV2 ? v2(s, d, sp, dp, t) : v1(isV6 ? 'TCP6' : 'TCP4', s, d, sp, dp);
        for (const mode of isV2 ? V2 : V1) {
          expectDone(parseProxyHeader(Buffer.concat([header, MQTT_CONNECT]), mode), addr(family, s, sp, d, dp), MQTT_CONNECT, `${header.toString('hex')}`);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
