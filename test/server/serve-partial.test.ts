/**
 * @module test/server/serve-partial
 * The real `lifeboat serve`, run as user nobody, backs up a folder holding a file nobody may
 * read: the job succeeds with a warning naming the path, its result lists what was left out,
 * and the API's snapshot says so too.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { asNobody, type Nobody } from '../helpers/as-nobody.js';
import { sleep } from '../helpers/repo-files.js';

describe('lifeboat serve: a backup that could not read everything', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let nobody: Nobody | string;
  let server: ChildProcess | undefined;
  let base = '';
  let token = '';
  let secret: string;

  async function call(path: string, method = 'GET') {
    const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}` } });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status}`);
    // biome-ignore lint/suspicious/noExplicitAny: fields are checked one by one below
    return (await res.json()) as any;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-serve-partial-'));
    await chmod(dir, 0o755);
    env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
    Object.assign(env, { LIFEBOAT_PASSWORD: 'pw-serve', LIFEBOAT_KDF_N: '1024', LIFEBOAT_LOG_LEVEL: 'warn' });
    nobody = await asNobody(env, dir);
    if (typeof nobody === 'string') return;
    const docs = join(dir, 'docs');
    await mkdir(docs);
    await writeFile(join(docs, 'a.txt'), 'alpha\n');
    await writeFile(
      join(dir, 'lifeboat.yaml'),
      `repository:\n  url: ${join(dir, 'repo')}\nsources:\n  docs: {type: files, path: ${docs}}\n`,
    );
    // The repository and the catalog (beside the config) are nobody's; one file is not.
    for (const p of [dir, docs, join(docs, 'a.txt'), join(dir, 'lifeboat.yaml')])
      await chown(p, nobody.uid, nobody.gid);
    secret = join(docs, 'secret.txt');
    await writeFile(secret, 'not for nobody\n', { mode: 0o600 });
    const cfg = ['--config', join(dir, 'lifeboat.yaml')];
    const init = await nobody.run([...cfg, 'init'], env, dir);
    assert.equal(init.code, 0, init.stderr);
    const t = await nobody.run([...cfg, 'token', 'create', 'op', '--role', 'operator'], env, dir);
    assert.equal(t.code, 0, t.stderr);
    token = t.stdout.trim();
    server = nobody.start([...cfg, 'serve', '--listen', '127.0.0.1:0'], env, dir);
    let out = '';
    server.stdout?.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    server.stderr?.resume();
    const deadline = Date.now() + 20_000;
    for (;;) {
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (m) {
        base = m[1];
        break;
      }
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start:\n${out}`);
      await sleep(50);
    }
  });

  after(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the job succeeds with a warning; its result and the snapshot list the path', async (t) => {
    if (typeof nobody === 'string') {
      t.skip(nobody);
      return;
    }
    const started = await call('/api/sources/docs/backups', 'POST');
    const id = started.job.id;
    let job = started.job;
    const deadline = Date.now() + 30_000;
    while (!['succeeded', 'failed'].includes(job.status)) {
      assert.ok(Date.now() < deadline, `job ${id} is still ${job.status}`);
      await sleep(50);
      job = (await call(`/api/jobs/${id}`)).job;
    }
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(job.result.status, 'partial');
    assert.equal(
      job.result.warning,
      `[backup] 1 path could not be read and is not in the snapshot: ${secret} (permission denied)`,
    );
    const [unit] = job.result.units;
    assert.deepEqual(unit.skipped, [{ path: secret, error: 'permission denied' }]);
    assert.equal(unit.skipped_count, 1);

    const listed = await call('/api/snapshots');
    assert.equal(listed.snapshots.length, 1);
    assert.equal(listed.snapshots[0].id, job.snapshot);
    assert.deepEqual(listed.snapshots[0].skipped, [{ path: secret, error: 'permission denied' }]);
    assert.equal(listed.snapshots[0].skippedCount, 1);
    const one = await call(`/api/snapshots/${job.snapshot}`);
    assert.deepEqual(one.snapshot.skipped, unit.skipped);
  });
});
