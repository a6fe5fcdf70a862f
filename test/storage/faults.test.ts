/**
 * The CLI against S3 through a proxy that misbehaves: 10% of requests answered 500/503,
 * some connections reset, some stalled. Backups, restores and check --read-data still
 * succeed (the retry wrapper). A sustained outage (every request 503) fails the job within
 * a bounded time, naming the store and the last error, leaves the repository intact, and the
 * next run reuses the packs uploaded before the outage. A stopped server fails fast too.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type FaultProxy, startFaultProxy } from '../../src/testing/servers/fault-proxy.js';
import { type S3rverServer, s3rverMissing, startS3rver } from '../../src/testing/servers/s3rver.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, startCli, tempDir } from '../helpers/cli.js';
import { writeTree } from '../helpers/data-gen.js';

const skip = s3rverMissing();
if (skip) console.log(`SKIPPED storage faults: ${skip}`);

describe('storage faults (s3rver behind a fault-injecting proxy)', { skip }, () => {
  let server: S3rverServer;
  let proxy: FaultProxy;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let config: string;

  before(async () => {
    if (skip) return;
    server = await startS3rver();
    proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port }, { seed: 'faults' });
    work = await tempDir('lifeboat-faults-');
    config = join(work.dir, 'lifeboat.yaml');
    // Short timeouts so stalls cost seconds, not minutes.
    await writeFile(config, 'repository:\n  timeout: 3s\n');
  });
  after(async () => {
    await proxy?.close();
    await server?.close();
    await work?.cleanup();
  });

  const env = (url: string, extra: NodeJS.ProcessEnv = {}) =>
    repoEnv(url, { ...server.env, AWS_ENDPOINT_URL_S3: proxy.endpoint, ...extra });

  test('10% errors, resets and stalls: backup, restore and check --read-data succeed', async () => {
    const data = join(work.dir, 'flaky-data');
    await writeTree(data, { seed: 'flaky', bytes: 40 * 1024 * 1024, files: 80 });
    const e = env(`s3://flaky-${process.pid}/repo`);
    proxy.mode = 'pass';
    await lifeboat(['--config', config, 'init'], e);
    proxy.mode = 'faulty';
    proxy.rates = { error: 0.1, reset: 0.03, stall: 0.02, stallMs: 20_000 };
    proxy.resetStats();
    await lifeboat(['--config', config, 'backup', '--type', 'files', '--name', 'data', '--path', data], e);
    const restored = join(work.dir, 'flaky-restored');
    await lifeboat(['--config', config, 'restore', 'latest', '--to', restored], e);
    assert.deepEqual(await compareTrees(data, restored, { owners: false }), []);
    const check = await lifeboat(['--config', config, 'check', '--read-data'], e);
    assert.match(check.stdout, /^no errors: 1 snapshots/m);
    const s = proxy.stats;
    console.log(
      `fault proxy: ${JSON.stringify({ requests: s.requests, errors: s.errors, resets: s.resets, stalls: s.stalls })}`,
    );
    assert.ok(s.errors > 0 && s.resets > 0 && s.stalls > 0, JSON.stringify(s));
  });

  test('a sustained outage fails within bounded time; the repository is intact; the next run reuses packs', async () => {
    const data = join(work.dir, 'outage-data');
    await writeTree(data, { seed: 'outage', bytes: 64 * 1024 * 1024, files: 40, randomShare: 1 });
    // What a clean backup of this data stores, for comparison.
    const baseline = await tempDir('lifeboat-baseline-');
    const clean = repoEnv(join(baseline.dir, 'repo'));
    await lifeboat(['init'], clean);
    const full = JSON.parse(
      (await lifeboat(['backup', '--type', 'files', '--name', 'data', '--path', data, '--json'], clean))
        .stdout,
    )[0].saved[0].backup.bytesAdded as number;
    await baseline.cleanup();

    const url = `s3://outage-${process.pid}/repo`;
    const e = env(url);
    proxy.mode = 'pass';
    await lifeboat(['--config', config, 'init'], e);
    proxy.resetStats();
    // Slow uploads a little so the outage lands mid-backup.
    const child = startCli(
      [
        '--config',
        config,
        '--limit-upload',
        '16384',
        'backup',
        '--type',
        'files',
        '--name',
        'data',
        '--path',
        data,
      ],
      e,
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    while (proxy.stats.bytesUp < 20 * 1024 * 1024 && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 10));
    const uploadedBeforeOutage = proxy.stats.bytesUp;
    proxy.mode = 'down';
    const outageStart = Date.now();
    const code = await exited;
    const took = Date.now() - outageStart;
    console.log(
      `outage: job failed after ${(took / 1000).toFixed(1)}s with ${proxy.stats.down} requests refused: ${stderr.trim()}`,
    );
    assert.equal(code, 1, stderr);
    assert.ok(took < 90_000, `took ${took}ms`);
    assert.match(stderr, new RegExp(`s3://outage-${process.pid}/repo`));
    assert.match(stderr, /HTTP 503 ServiceUnavailable/);
    assert.ok(
      uploadedBeforeOutage >= 16 * 1024 * 1024,
      `only ${uploadedBeforeOutage} bytes were uploaded before the outage`,
    );

    proxy.mode = 'pass';
    const check = await runCli(['--config', config, 'check'], e);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const again = await lifeboat(
      ['--config', config, 'backup', '--type', 'files', '--name', 'data', '--path', data, '--json'],
      e,
    );
    const added = JSON.parse(again.stdout)[0].saved[0].backup.bytesAdded as number;
    console.log(`outage: clean backup stores ${full} bytes; after the outage the next run added ${added}`);
    // Packs uploaded before the outage were adopted, not sent again.
    assert.ok(added < full - 12 * 1024 * 1024, `added ${added} of ${full}`);
    const restored = join(work.dir, 'outage-restored');
    await lifeboat(['--config', config, 'restore', 'latest', '--to', restored], e);
    assert.deepEqual(await compareTrees(data, restored, { owners: false }), []);
    await lifeboat(['--config', config, 'check', '--read-data'], e);
  });

  test('a stopped server fails the job fast, naming the store and the connection error', async () => {
    const url = `s3://stopped-${process.pid}/repo`;
    const direct = repoEnv(url, server.env);
    await lifeboat(['init'], direct);
    await server.stop();
    try {
      const started = Date.now();
      const r = await runCli(['snapshots'], direct);
      const took = Date.now() - started;
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`s3://stopped-${process.pid}/repo`));
      assert.match(r.stderr, /ECONNREFUSED/);
      assert.ok(took < 60_000, `took ${took}ms`);
    } finally {
      await server.start();
    }
    const r = await runCli(['snapshots'], direct);
    assert.equal(r.code, 0, r.stderr);
  });
});
