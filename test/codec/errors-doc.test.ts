/**
 * docs/errors.md documents every code of the error table, and nothing else; every decode code names
 * the MQTT 5 reason code it carries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ErrorCodes } from '../../src/errors';

/** docs/errors.md, found from the compiled test upwards (dist/test/codec), else from the working directory. */
function findDoc(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'docs', 'errors.md');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  return join(process.cwd(), 'docs', 'errors.md');
}

test('docs/errors.md has one row per error code', () => {
  const rows = readFileSync(findDoc(), 'utf8')
    .split('\n')
    .map((line) => /^\|\s*`(RTK_[A-Z0-9_]+)`\s*\|([^|]+)\|([^|]+)\|\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null);
  const documented = rows.map((m) => m[1]!);
  const codes = Object.keys(ErrorCodes);
  assert.deepEqual([...documented].sort(), [...codes].sort());
  assert.equal(new Set(documented).size, documented.length, 'a code is documented twice');
  for (const m of rows) {
    assert.ok(m[2]!.trim().length > 10, `${m[1]} needs a meaning`);
    if (m[1]!.startsWith('RTK_DECODE_')) assert.match(m[3]!, /0x8[1-4]|0x95/, `${m[1]} needs its MQTT 5 reason code`);
  }
});
