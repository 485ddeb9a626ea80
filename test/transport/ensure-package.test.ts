/**
 * ensureCommand: finds what is there, and fails loudly (naming the package) when a command is
 * missing and cannot be installed. The install path itself runs for real in mosquitto-clients.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAbsolute } from 'node:path';
import { ensureCommand, findCommand } from './ensure-package';

const MISSING = 'ratatosk-no-such-command';

test('findCommand finds a command on the PATH and nothing for an unknown one', () => {
  const sh = findCommand('sh');
  assert.ok(sh && isAbsolute(sh), `sh: ${sh}`);
  assert.equal(findCommand(MISSING), undefined);
});

test('ensureCommand resolves at once with the path of a command that is there', async () => {
  assert.equal(await ensureCommand('sh', 'dash'), findCommand('sh'));
});

test('ensureCommand, not root, command missing: fails with what to install (never a skip)', async () => {
  const real = process.getuid;
  process.getuid = () => 1000;
  try {
    await assert.rejects(ensureCommand(MISSING, 'ratatosk-no-such-package'), (err: Error) => {
      assert.match(err.message, /not running as root/);
      assert.match(err.message, /apt-get install -y ratatosk-no-such-package/);
      assert.match(err.message, new RegExp(MISSING));
      return true;
    });
  } finally {
    process.getuid = real;
  }
});
