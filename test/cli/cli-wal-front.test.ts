/**
 * @module test/cli/cli-wal-front
 * The sh front (bin/lifeboat) as restore_command calls it, without a server: files the fetch
 * agent left are served without starting Node.js, and an agent.pid naming a process that is
 * not an agent (a killed agent's pid, recycled) does not stop fetches: the first call the
 * agent must answer starts a new one.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lifeboat, repoEnv } from '../helpers/cli.js';

const FRONT = fileURLToPath(new URL('../../../bin/lifeboat', import.meta.url));

function front(args: string[], env: NodeJS.ProcessEnv): { code: number | null; stderr: string } {
  const r = spawnSync(FRONT, args, { env: { ...env, LIFEBOAT_NODE: process.execPath }, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('the sh front serves prefetched files, and a recycled agent pid does not stop fetches', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-front-'));
  const env = repoEnv(join(dir, 'repo'));
  const pgWal = join(dir, 'pg_wal');
  const pf = join(pgWal, 'lifeboat-prefetch');
  // Not an agent: what a killed agent's pid may name once the pid is reused.
  const other = spawn('sleep', ['60'], { stdio: 'ignore' });
  let agentPid: number | undefined;
  try {
    await lifeboat(['init'], env);
    await mkdir(join(pgWal, 'archive_status'), { recursive: true });
    const name = '000000010000000000000003';
    const data = Buffer.alloc(1024 * 1024, 7);
    await writeFile(join(pgWal, name), data);
    await lifeboat(['--quiet', 'wal-push', '--source', 'db', join(pgWal, name)], env);
    await rm(join(pgWal, name));

    await mkdir(pf);
    await writeFile(join(pf, 'boot'), await readFile('/proc/sys/kernel/random/boot_id'));
    await writeFile(join(pf, 'agent.pid'), `${other.pid}\n`);
    // Left by the agent: served as it is (these bytes are not the archive's).
    const next = '000000010000000000000004';
    await writeFile(join(pf, next), 'prefetched');
    const served = front(['--quiet', 'wal-fetch', '--source', 'db', next, join(pgWal, 'RECOVERYXLOG')], env);
    assert.equal(served.code, 0, served.stderr);
    assert.equal(await readFile(join(pgWal, 'RECOVERYXLOG'), 'utf8'), 'prefetched');

    // Not in the folder: the agent must answer; the pid file names no agent, so one starts.
    const out = join(pgWal, 'RECOVERYXLOG');
    const fetched = front(['--quiet', 'wal-fetch', '--source', 'db', name, out], env);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.ok((await readFile(out)).equals(data), 'the archived bytes');
    agentPid = Number((await readFile(join(pf, 'agent.pid'), 'utf8')).trim());
    assert.notEqual(agentPid, other.pid, 'a new agent was started');
    const cmdline = await readFile(`/proc/${agentPid}/cmdline`, 'utf8');
    assert.match(cmdline, /--agent/);

    // Not archived: exit 1 (PostgreSQL's "not found"), answered by the agent.
    const absent = front(['--quiet', 'wal-fetch', '--source', 'db', '00000002.history', out], env);
    assert.equal(absent.code, 1, absent.stderr);
  } finally {
    other.kill();
    // The agent leaves when its folder goes.
    await rm(pf, { recursive: true, force: true });
    if (agentPid) {
      const pid = agentPid;
      // Gone, or a zombie (its parent, the sh front, has exited: init reaps it, or not).
      await waitFor(async () => {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        return stat === '' || /^\d+ \(.*\) Z/.test(stat);
      }, 'the agent to leave');
    }
    await rm(dir, { recursive: true, force: true });
  }
});
