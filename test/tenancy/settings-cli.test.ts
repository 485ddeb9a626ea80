/**
 * `ratatosk settings <tenant>` (src/cli/settings.ts): a tenant's effective settings from a config
 * file and the setting provider plugin, with where each comes from; bad configurations and bad
 * provider answers are reported, never printed as if they applied.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { runSettings } from '../../src/cli/settings';
import { DEFAULT_TENANT_SETTINGS } from '../../src/tenant/settings';

const ROOT = resolve(__dirname, '..', '..', '..');
const PROVIDER = join(ROOT, 'dist', 'examples', 'plugins', 'tenant-settings.js');

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runSettings(argv, { stdout, stderr, env });
  return { code, out: stdout.text, err: stderr.text };
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtk-settings-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('ratatosk settings', () => {
  test('merges built-in defaults, tenants.default and the tenant block, and names the source of each key', async () => {
    const config = file('a.yaml', 'tenants:\n  default: { maxQoS: 1, inboxSize: 50 }\n  acme: { inboxSize: 5000, maxConnections: 10 }\n');
    const r = await run(['acme', '--config', config, '--json']);
    assert.equal(r.code, 0, r.err);
    const { tenant, settings, sources } = JSON.parse(r.out) as { tenant: string; settings: Record<string, unknown>; sources: Record<string, string> };
    assert.equal(tenant, 'acme');
    assert.equal(settings.maxQoS, 1);
    assert.equal(sources.maxQoS, 'config tenants.default');
    assert.equal(settings.inboxSize, 5000);
    assert.equal(sources.inboxSize, 'config tenants.acme');
    assert.equal(settings.maxConnections, 10);
    assert.equal(settings.retainEnabled, DEFAULT_TENANT_SETTINGS.retainEnabled);
    assert.equal(sources.retainEnabled, 'built-in default');
    assert.deepEqual(Object.keys(settings).sort(), Object.keys(DEFAULT_TENANT_SETTINGS).sort(), 'every setting is listed');

    const other = await run(['globex', '--config', config, '--json']);
    assert.equal((JSON.parse(other.out) as { settings: { inboxSize: number } }).settings.inboxSize, 50, 'another tenant gets the default block');
  });

  test('the setting provider is asked, for default and for the tenant, and wins over the file', async () => {
    const patches = file('tenants.json', JSON.stringify({ default: { maxPacketSize: 4096 }, acme: { retainEnabled: false, inboxSize: 7 } }));
    const config = file('b.yaml', `tenants:\n  acme: { inboxSize: 5000 }\nplugins:\n  settings:\n    module: ${PROVIDER}\n    config: { path: ${patches} }\n`);
    const r = await run(['acme', '--config', config, '--json']);
    assert.equal(r.code, 0, r.err);
    const { settings, sources } = JSON.parse(r.out) as { settings: Record<string, unknown>; sources: Record<string, string> };
    assert.equal(settings.maxPacketSize, 4096);
    assert.equal(sources.maxPacketSize, 'setting provider (default)');
    assert.equal(settings.retainEnabled, false);
    assert.equal(settings.inboxSize, 7, "the provider's answer for the tenant comes last");
    assert.equal(sources.inboxSize, 'setting provider (acme)');
  });

  test('an invalid provider answer is reported, left out, and exits 1', async () => {
    const patches = file('bad.json', JSON.stringify({ acme: { maxQoS: 7 } }));
    const config = file('c.yaml', `plugins:\n  settings:\n    module: ${PROVIDER}\n    config: { path: ${patches} }\n`);
    const r = await run(['acme', '--config', config, '--json']);
    assert.equal(r.code, 1);
    assert.match(r.err, /maxQoS/);
    assert.match(r.err, /no valid answer for 'acme'/);
    assert.equal((JSON.parse(r.out) as { settings: { maxQoS: number } }).settings.maxQoS, 2);
  });

  test('a bad config file names the key and exits 2; usage errors exit 2', async () => {
    const config = file('d.yaml', 'tenants:\n  acme: { inboxSize: -1 }\n');
    const r = await run(['acme', '--config', config]);
    assert.equal(r.code, 2);
    assert.match(r.err, /tenants\.acme\.inboxSize/);
    assert.equal((await run([])).code, 2);
    assert.equal((await run(['a', 'b'])).code, 2);
    assert.equal((await run(['--bogus'])).code, 2);
  });

  test('RATATOSK_CONFIG is used without --config; the table lists one row per setting', async () => {
    const config = file('e.yaml', 'tenants:\n  default: { publishRate: 100 }\n');
    const r = await run(['acme'], { RATATOSK_CONFIG: config });
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines[0], 'tenant acme');
    assert.equal(lines.length - 1, Object.keys(DEFAULT_TENANT_SETTINGS).length);
    assert.match(r.out, /publishRate\s+100\s+config tenants\.default/);
  });

  test('the ratatosk command runs it', () => {
    const config = file('f.yaml', 'tenants:\n  acme: { maxQoS: 0 }\n');
    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'main.js'), 'settings', 'acme', '--config', config, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { settings: { maxQoS: number } }).settings.maxQoS, 0);
  });

  test('a reader that goes away early (| head) ends the output quietly', async () => {
    const config = file('g.yaml', 'tenants:\n  acme: { maxQoS: 0 }\n');
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'main.js'), 'settings', 'acme', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    // Close our end before the command writes: its write fails with EPIPE.
    child.stdout.destroy();
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|Error/);
  });
});
