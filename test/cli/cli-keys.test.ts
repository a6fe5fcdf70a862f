/**
 * @module test/cli/cli-keys
 * `key list | add | remove | passwd` through the real CLI: which passwords open the
 * repository after each step, the new password's sources (file, LIFEBOAT_NEW_PASSWORD, no
 * prompt without a terminal), and that no password is ever printed.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { repoEnv, tempDir } from '../helpers/cli.js';
import { CliSession, STACK, show } from '../helpers/cli-session.js';

const PASSWORD = 'pw-keys-Vb9*orchid-badger';
const SECOND = 'pw-keys-second-Lm4^quartz-heron';
const THIRD = 'pw-keys-third-Ty6~walnut-moose';
const CHANGED = 'pw-keys-changed-Qe1+amber-finch';
const ALL_PASSWORDS = [PASSWORD, SECOND, THIRD, CHANGED];

const session = new CliSession({ password: PASSWORD, passwords: ALL_PASSWORDS });
const { cli, ok, fails } = session;

interface KeyJson {
  id: string;
  current: boolean;
  host: string;
  username: string;
  created: string;
}

interface KeyListJson {
  keys: KeyJson[];
  epochs: number[];
  currentEpoch: number;
}

describe('lifeboat key', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let data: string;
  /** Environment that opens the repository with `password`. */
  let as: (password: string, extra?: NodeJS.ProcessEnv) => NodeJS.ProcessEnv;
  let firstKey: string;
  let secondKey: string;

  async function keys(password: string): Promise<KeyJson[]> {
    const listing: KeyListJson = JSON.parse((await ok(['key', 'list', '--json'], as(password))).stdout);
    return listing.keys;
  }

  /** The password opens the repository, and its data restores. */
  async function opensWith(password: string): Promise<void> {
    const to = join(dir, `restore-${Math.random().toString(36).slice(2)}`);
    await ok(['restore', 'latest', '--to', to], as(password));
    assert.deepEqual(await compareTrees(data, to), []);
  }

  async function refuses(password: string): Promise<void> {
    await fails(['snapshots'], as(password), 1, /wrong password/);
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-cli-keys-'));
    session.workDir = dir;
    repo = join(dir, 'repo');
    data = join(dir, 'data');
    as = (password, extra = {}) => repoEnv(repo, { LIFEBOAT_PASSWORD: password, ...extra });
    await mkdir(data);
    await writeFile(join(data, 'secret-plans.txt'), 'step 1: back up\n');
    await ok(['init'], as(PASSWORD));
    await ok(['backup', '--type', 'files', '--name', 'plans', '--path', data], as(PASSWORD));
  });
  after(() => cleanup());

  it('key list shows the one key, marked current', async () => {
    const list = await keys(PASSWORD);
    assert.equal(list.length, 1);
    firstKey = list[0].id;
    assert.equal(list[0].current, true);
    assert.match(firstKey, /^[0-9a-f]{64}$/);
    assert.ok(!Number.isNaN(Date.parse(list[0].created)));
    const listing: KeyListJson = JSON.parse((await ok(['key', 'list', '--json'], as(PASSWORD))).stdout);
    assert.deepEqual(listing.epochs, [listing.currentEpoch]);
    const r = await ok(['key', 'list'], as(PASSWORD));
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^\s+ID\s+.*\bUser\s+Host\s+Created$/);
    assert.equal(lines.length, 4, r.stdout);
    assert.equal(lines[3], `data-key epochs: ${listing.currentEpoch} (current: ${listing.currentEpoch})`);
    assert.match(
      lines[2],
      new RegExp(`^\\* {2}${firstKey.slice(0, 8)} {2}.+ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d$`),
    );
  });

  it('key add --new-password-file adds a password that opens the repository', async () => {
    const file = join(dir, 'second.txt');
    await writeFile(file, `${SECOND}\n`);
    const r = await ok(['key', 'add', '--new-password-file', file], as(PASSWORD));
    const m = r.stdout.match(/^added key ([0-9a-f]{8})$/m);
    assert.ok(m, r.stdout);
    await opensWith(SECOND);
    const list = await keys(SECOND);
    assert.equal(list.length, 2);
    const current = list.filter((k) => k.current);
    assert.equal(current.length, 1);
    assert.ok(current[0].id.startsWith(m[1]), 'the key opened with the new password is the new one');
    secondKey = current[0].id;
    await opensWith(PASSWORD);
  });

  it('key add takes LIFEBOAT_NEW_PASSWORD', async () => {
    await ok(['key', 'add'], as(PASSWORD, { LIFEBOAT_NEW_PASSWORD: THIRD }));
    await opensWith(THIRD);
    assert.equal((await keys(PASSWORD)).length, 3);
  });

  it('key add with no new password and no terminal exits 2 and names both ways', async () => {
    const r = await fails(['key', 'add'], as(PASSWORD), 2, /no new password/);
    assert.match(r.stderr, /--new-password-file/);
    assert.match(r.stderr, /LIFEBOAT_NEW_PASSWORD/);
    await fails(['key', 'passwd'], as(PASSWORD), 2, /LIFEBOAT_NEW_PASSWORD/);
    assert.equal((await keys(PASSWORD)).length, 3);
  });

  it('key add with a --new-password-file that does not exist says so (exit 2)', async () => {
    const args = ['key', 'add', '--new-password-file', join(dir, 'no-such-file.txt')];
    // Checked here rather than in the final sweep, so a failure points at this case alone.
    const r = await cli(args, as(PASSWORD), { sweep: false });
    assert.doesNotMatch(r.stderr, STACK, show(args, r));
    assert.equal(r.code, 2, show(args, r));
    assert.match(r.stderr, /no-such-file\.txt/);
    assert.equal((await keys(PASSWORD)).length, 3);
  });

  it('key add refuses an empty password from a file (exit 2)', async () => {
    const file = join(dir, 'empty.txt');
    await writeFile(file, '\n');
    const before = new Set((await keys(PASSWORD)).map((k) => k.id));
    try {
      await fails(['key', 'add', '--new-password-file', file], as(PASSWORD), 2, /empty/);
    } finally {
      // Whatever happened, the next cases start from the same keys.
      for (const k of await keys(PASSWORD))
        if (!before.has(k.id)) await ok(['key', 'remove', k.id], as(PASSWORD));
    }
  });

  it('key remove ID-prefix removes another key; its password stops working', async () => {
    const r = await ok(['key', 'remove', secondKey.slice(0, 8)], as(PASSWORD));
    assert.match(r.stdout, new RegExp(`^removed key ${secondKey.slice(0, 8)}$`, 'm'));
    await refuses(SECOND);
    const left = await keys(PASSWORD);
    assert.equal(left.length, 2);
    assert.ok(!left.some((k) => k.id === secondKey));
    await opensWith(THIRD);
  });

  it('key remove refuses the key in use, and an unknown id', async () => {
    await fails(
      ['key', 'remove', firstKey.slice(0, 8)],
      as(PASSWORD),
      2,
      /the one this command opened the repository with/,
    );
    await fails(['key', 'remove', firstKey], as(PASSWORD), 2, /another password/);
    await fails(
      ['key', 'remove', secondKey.slice(0, 8)],
      as(PASSWORD),
      1,
      /matches 0 keys.*lifeboat key list/,
    );
    assert.equal((await keys(PASSWORD)).length, 2);
    await opensWith(PASSWORD);
  });

  it('key passwd replaces the current password: the old one fails, the new one works', async () => {
    const file = join(dir, 'changed.txt');
    await writeFile(file, CHANGED);
    const r = await ok(['key', 'passwd', '--new-password-file', file], as(PASSWORD));
    assert.match(
      r.stdout,
      new RegExp(`^password changed: key ${firstKey.slice(0, 8)} replaced by [0-9a-f]{8}$`, 'm'),
    );
    await refuses(PASSWORD);
    await opensWith(CHANGED);
    await opensWith(THIRD);
    const list = await keys(CHANGED);
    assert.equal(list.length, 2);
    assert.ok(!list.some((k) => k.id === firstKey));
  });

  it('key passwd takes LIFEBOAT_NEW_PASSWORD too', async () => {
    await ok(['key', 'passwd'], as(THIRD, { LIFEBOAT_NEW_PASSWORD: SECOND }));
    await refuses(THIRD);
    await opensWith(SECOND);
    await opensWith(CHANGED);
  });

  it('no output shows any password, and no error a stack trace', () => {
    session.assertNoLeaks(20);
  });
});
