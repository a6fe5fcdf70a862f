/**
 * The systemd units in deploy/: `systemd-analyze verify` accepts them (SKIPPED without it), and
 * each runs a real lifeboat command as an unprivileged user, restarts on failure, waits longer
 * than the shutdown grace for a stop, and hands the repository password over as a file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/cli.js';
import { checkArgs, DEFAULT_SHUTDOWN_GRACE_MS, documentedText, ROOT } from '../helpers/deploy-commands.js';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const LIFEBOAT_BIN = '/usr/local/bin/lifeboat';

/** The unit files: deploy/lifeboat.service (one server) and deploy/systemd/* (fleet). */
const UNITS = [
  join(ROOT, 'deploy', 'lifeboat.service'),
  ...readdirSync(join(ROOT, 'deploy', 'systemd'))
    .filter((f) => f.endsWith('.service'))
    .map((f) => join(ROOT, 'deploy', 'systemd', f)),
];

/** Section name to its settings, each key with every value it is given (in order). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(trimmed);
    if (header) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const eq = trimmed.indexOf('=');
    assert.ok(current && eq > 0, `not a setting: ${trimmed}`);
    const key = trimmed.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), trimmed.slice(eq + 1)]);
  }
  return sections;
}

/** systemd's time span in seconds: "90", "90s", "2min", "1min 30s". */
function seconds(span: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let total = 0;
  for (const [, n, unit] of span.matchAll(/(\d+)\s*([a-z]*)/g)) {
    assert.ok(unit in units, `time unit ${unit}`);
    total += Number(n) * units[unit];
  }
  return total;
}

for (const file of UNITS) {
  const name = file.slice(ROOT.length + 1);
  test(`${name}: runs lifeboat serve or worker as a system user, restarts, outlasts the shutdown grace`, () => {
    const unit = parseUnit(readFileSync(file, 'utf8'));
    assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
    const service = unit.get('Service')!;
    const one = (key: string) => {
      const values = service.get(key) ?? [];
      assert.equal(values.length, 1, `${name}: one ${key}=`);
      return values[0];
    };
    const exec = one('ExecStart').split(/\s+/);
    assert.equal(exec[0], LIFEBOAT_BIN, `${name}: ExecStart runs ${LIFEBOAT_BIN}`);
    // ${VAR} words are filled in by systemd from the environment file.
    const r = checkArgs(exec.slice(1), documentedText());
    assert.deepEqual(r.problems, [], name);
    assert.notEqual(one('User'), 'root', `${name}: not root`);
    assert.equal(one('Restart'), 'on-failure');
    assert.equal(one('KillSignal'), 'SIGTERM');
    assert.ok(
      seconds(one('TimeoutStopSec')) * 1000 > DEFAULT_SHUTDOWN_GRACE_MS,
      `${name}: stop timeout above the grace`,
    );
    assert.equal(one('NoNewPrivileges'), 'yes');
    assert.ok(service.get('Environment')?.includes('LIFEBOAT_CONFIG=/etc/lifeboat/lifeboat.yaml'), name);
    assert.deepEqual(unit.get('Install')?.get('WantedBy'), ['multi-user.target']);
    if (name.startsWith('deploy/systemd/')) {
      // Fleet units: the password as a credential only this service reads, a strict sandbox.
      const credential = one('LoadCredential').split(':')[0];
      assert.ok(
        service.get('Environment')?.includes(`LIFEBOAT_PASSWORD_FILE=%d/${credential}`),
        `${name}: LIFEBOAT_PASSWORD_FILE names the credential`,
      );
      assert.equal(one('ProtectSystem'), 'strict');
      assert.equal(one('CapabilityBoundingSet'), '');
      assert.equal(one('UMask'), '0077');
    }
  });
}

test('systemd-analyze verify accepts every unit', async (t) => {
  if (!existsSync(SYSTEMD_ANALYZE)) {
    t.skip(`SKIPPED: ${SYSTEMD_ANALYZE} is missing (install systemd to check the units)`);
    return;
  }
  const { dir, cleanup } = await tempDir('lifeboat-units-');
  try {
    const paths: string[] = [];
    for (const file of UNITS) {
      // verify checks that ExecStart's program exists: point it at one that does.
      const text = readFileSync(file, 'utf8').replaceAll(LIFEBOAT_BIN, process.execPath);
      let base = file.slice(file.lastIndexOf('/') + 1);
      // A template is verified as an instance of it.
      if (base.endsWith('@.service')) base = base.replace('@.service', '@test.service');
      writeFileSync(join(dir, base), text);
      paths.push(join(dir, base));
    }
    const r = spawnSync(SYSTEMD_ANALYZE, ['verify', '--man=no', ...paths], { encoding: 'utf8' });
    // verify exits 0 on unknown keys and bad values, which it only prints: any line about our
    // units is a failure.
    const ours = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes(dir) || /lifeboat/.test(l));
    assert.equal(r.status, 0, `systemd-analyze verify exited ${r.status}:\n${r.stderr}`);
    assert.deepEqual(ours, []);
  } finally {
    await cleanup();
  }
});
