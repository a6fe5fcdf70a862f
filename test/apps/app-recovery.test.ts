/**
 * @module test/apps/app-recovery
 * An application of four sources, end to end through the real CLI against real servers: a
 * PostgreSQL cluster archiving WAL (physical), a MariaDB database, a Redis server and a folder
 * of files. `backup --app` takes a point (the app's hook once, every snapshot tagged) before
 * batch A's successor... more exactly: batch A, point 1, time T, batch B, point 2. `points`
 * lists both, `--before T` the first. `restore --app --at T --env staging` prints its plan
 * (PostgreSQL recovered to exactly T from base backup and WAL, the others from point 1, the
 * skew, what each staging target holds), restores all four and verifies them: staging then
 * holds batch A and not batch B everywhere, the PostgreSQL part stopped at T: the restore
 * started PostgreSQL on it, which recovered to a moment between the batches and was stopped
 * again (`restore --source --at --to --verify` does the same for one source). `drill --app`
 * drills every source of the newest point and keeps the app's RTO; `drill --app --point` of
 * the first point recovers PostgreSQL to that point's moment, with its rows only. With the
 * source stopped, a verified restore to the end of the archive's window fails as PostgreSQL
 * does (its WAL never reaches the target) and names the segment it lacked. Last, a WAL segment
 * after the first base backup is deleted: the PostgreSQL source fails naming it, the others
 * are restored, exit code 3. The CLI runs as the PostgreSQL server's user (the
 * archive_command writes the repository as that user).
 */
import assert from 'node:assert/strict';
import { chown, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { type MariadbServer, mariadbUnavailable, startMariadb } from '../../src/testing/servers/mariadb.js';
import { type PostgresServer, startPostgres } from '../../src/testing/servers/postgres.js';
import { type RedisServer, redisUnavailable, startRedis } from '../../src/testing/servers/redis.js';
import type { CliResult } from '../helpers/cli.js';
import {
  archived,
  archivingSettings,
  asServerUser,
  isRoot,
  pitrUnavailable,
  promoted,
  sharedDir,
} from '../helpers/pitr.js';
import { sql } from '../postgres/pg-helpers.js';

const PASSWORD = 'pw-apps-Lk3!dock';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

async function redisKeys(server: RedisServer): Promise<string[]> {
  const conn = await server.connect();
  try {
    const keys = (await conn.call(['KEYS', '*'])) as Buffer[];
    return keys.map((k) => k.toString()).sort();
  } finally {
    await conn.close();
  }
}

test('an application: points, a plan, a restore to staging at a time, a drill', {
  timeout: 600_000,
}, async (t) => {
  const why = pitrUnavailable() ?? mariadbUnavailable() ?? redisUnavailable();
  if (why) {
    console.log(`SKIPPED: ${why}`);
    t.skip(why);
    return;
  }
  const work = await sharedDir('lifeboat-app-');
  const repo = join(work, 'repo');
  const configFile = join(work, 'lifeboat.yaml');
  // restore_command reads the password from a file (it has no LIFEBOAT_PASSWORD).
  const passwordFile = join(work, 'password');
  await writeFile(passwordFile, PASSWORD, { mode: 0o600 });
  const files = join(work, 'files');
  const staging = join(work, 'staging');
  const hookLog = join(work, 'hook.log');
  await mkdir(files);
  await mkdir(staging);
  await writeFile(hookLog, '');
  if (isRoot) for (const p of [passwordFile, files, staging, hookLog]) await chown(p, 65534, 65534);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LIFEBOAT_REPO: repo,
    LIFEBOAT_PASSWORD_FILE: passwordFile,
    LIFEBOAT_KDF_N: '1024',
    LIFEBOAT_CONFIG: configFile,
  };
  delete env.LIFEBOAT_PASSWORD;
  const saved = { ...process.env };
  // The PostgreSQL server inherits this: its archive_command finds the repository here.
  Object.assign(process.env, {
    LIFEBOAT_REPO: repo,
    LIFEBOAT_PASSWORD: PASSWORD,
    LIFEBOAT_KDF_N: '1024',
    LIFEBOAT_CONFIG: configFile,
  });
  const lifeboat = async (args: string[], expectOk = true): Promise<CliResult> => {
    const r = await asServerUser(args, env);
    if (expectOk) assert.equal(r.code, 0, show(args, r));
    return r;
  };
  let pg: PostgresServer | undefined;
  let restoredPg: PostgresServer | undefined;
  let maria: MariadbServer | undefined;
  let cache: RedisServer | undefined;
  let stagingCache: RedisServer | undefined;
  try {
    [pg, maria, cache, stagingCache] = await Promise.all([
      startPostgres({ settings: archivingSettings() }),
      startMariadb(),
      startRedis(),
      startRedis(),
    ]);
    maria.rootSql('CREATE DATABASE verpa; CREATE DATABASE verpa_staging;');
    maria.rootSql("GRANT ALL ON *.* TO 'lbtest'@'%'; GRANT ALL ON *.* TO 'lbtest'@'localhost';");
    maria.rootSql('CREATE TABLE verpa.orders (id INT PRIMARY KEY, batch CHAR(1));');
    // Staging holds something already: the plan must say what will be overwritten.
    maria.rootSql(
      'CREATE TABLE verpa_staging.old (id INT); INSERT INTO verpa_staging.old VALUES (1), (2), (3);',
    );
    const pgData = join(staging, 'pg');
    const config = {
      sources: {
        'verpa-db': { type: 'postgres', url: pg.url, method: 'physical' },
        'verpa-shop': { type: 'mysql', url: maria.urlFor('verpa') },
        'verpa-cache': { type: 'redis', url: cache.url },
        'verpa-files': { type: 'files', path: files },
      },
      apps: {
        verpa: {
          sources: ['verpa-db', 'verpa-shop', 'verpa-cache', 'verpa-files'],
          hooks: { before_backup: `echo "point $LIFEBOAT_SNAPSHOT" >> '${hookLog}'` },
          parallel: 2,
          environments: {
            staging: {
              targets: {
                'verpa-db': join(pgData, 'data'),
                'verpa-shop': maria.urlFor('verpa_staging'),
                'verpa-cache': stagingCache.url,
                'verpa-files': join(staging, 'files'),
              },
            },
            production: { protected: true, targets: {} },
            // Where the restore with a hole in the WAL archive goes.
            gap: {
              targets: {
                'verpa-db': join(staging, 'pg-gap', 'data'),
                'verpa-shop': maria.urlFor('verpa_staging'),
                'verpa-cache': stagingCache.url,
                'verpa-files': join(staging, 'files-gap'),
              },
            },
          },
        },
      },
    };
    await writeFile(configFile, stringify(config), { mode: 0o644 });
    await lifeboat(['init']);
    await sql(pg.url, 'CREATE TABLE items (batch text, n int)');

    const writeBatch = async (batch: 'A' | 'B', from: number) => {
      await sql(pg?.url as string, `INSERT INTO items SELECT '${batch}', g FROM generate_series(1, 100) g`);
      maria?.rootSql(
        `INSERT INTO verpa.orders VALUES ${Array.from({ length: 20 }, (_, i) => `(${from + i}, '${batch}')`).join(', ')};`,
      );
      const conn = await cache?.connect();
      try {
        for (let i = 0; i < 10; i++) await conn?.call(['SET', `${batch.toLowerCase()}:${i}`, `v${i}`]);
      } finally {
        await conn?.close();
      }
      for (let i = 0; i < 3; i++) await writeFile(join(files, `${batch}-${i}.txt`), `${batch}${i}\n`);
      if (isRoot) for (let i = 0; i < 3; i++) await chown(join(files, `${batch}-${i}.txt`), 65534, 65534);
    };

    // Batch A, point 1; the moment T; batch B, point 2.
    await writeBatch('A', 1);
    const [{ afterA }] = await sql<{ afterA: Date }>(pg.url, 'SELECT clock_timestamp() AS "afterA"');
    const first = await lifeboat(['backup', '--app', 'verpa']);
    assert.match(first.stdout, /^point [0-9a-f]{8} of verpa: complete, 4 sources in/m);
    for (const s of ['verpa-db', 'verpa-shop', 'verpa-cache', 'verpa-files']) {
      assert.match(first.stdout, new RegExp(`^${s}: snapshot [0-9a-f]{8} saved`, 'm'));
    }
    // Committed after point 1's base backup and before T: only WAL replay brings it back.
    await sleep(500);
    await sql(pg.url, 'CREATE TABLE notes (n int); INSERT INTO notes SELECT generate_series(1, 5)');
    await sleep(1000);
    const [{ at }] = await sql<{ at: Date }>(pg.url, 'SELECT clock_timestamp() AS at');
    const T = new Date(at).toISOString();
    await sleep(1500);
    await writeBatch('B', 100);
    const second = await lifeboat(['backup', '--app', 'verpa', '--json']);
    const p2 = JSON.parse(second.stdout) as { point: { id: string }; complete: boolean };
    assert.equal(p2.complete, true);
    await archived(pg);
    await sleep(500);

    // The hook ran once per point, before the sources.
    const hooks = await lifeboat(['points', '--app', 'verpa', '--json']);
    const listed = JSON.parse(hooks.stdout) as {
      id: string;
      complete: boolean;
      sources: { source: string }[];
    }[];
    assert.equal(listed.length, 2);
    assert.ok(listed.every((p) => p.complete && p.sources.length === 4));
    assert.equal(listed[1].id, p2.point.id);
    const { readFile } = await import('node:fs/promises');
    assert.deepEqual(
      (await readFile(hookLog, 'utf8')).trim().split('\n'),
      listed.map((p) => `point ${p.id}`),
    );
    // Each snapshot carries the point's tag: the repository alone knows the points.
    const tagged = await lifeboat(['snapshots', '--tag', `point:${listed[0].id}`, '--json']);
    assert.equal((JSON.parse(tagged.stdout) as unknown[]).length, 4);
    const before = await lifeboat(['points', '--before', T]);
    assert.match(before.stdout, new RegExp(`^${listed[0].id.slice(0, 8)}  verpa .* complete$`, 'm'));
    assert.match(before.stdout, /^1 point$/m);

    // The plan: PostgreSQL to exactly T, the others from point 1; nothing written on a dry run.
    const dry = await lifeboat(['restore', '--app', 'verpa', '--at', T, '--env', 'staging', '--dry-run']);
    assert.match(
      dry.stdout,
      new RegExp(`^plan: restore verpa to staging from time ${T.replace(/\./g, '\\.')}$`, 'm'),
    );
    assert.match(
      dry.stdout,
      new RegExp(
        `^  verpa-db \\(postgres\\): base backup [0-9a-f]{8} \\+ WAL, recovered to exactly ${T.replace(/\./g, '\\.')}`,
        'm',
      ),
    );
    assert.match(dry.stdout, /^ {2}verpa-shop \(mysql\): snapshot [0-9a-f]{8} /m);
    assert.match(dry.stdout, /overwrites mysql:\/\/.*verpa_staging: 1 tables, views, routines or events$/m);
    assert.match(dry.stdout, /^ {6}old: 3 rows$/m);
    assert.match(dry.stdout, /^ {4}overwrites .*: no keys$/m);
    assert.match(dry.stdout, /^ {4}overwrites .*files: does not exist \(will be created\)$/m);
    assert.match(dry.stdout, /^skew between the sources' recovery moments: \d+\.\ds$/m);
    assert.match(dry.stdout, /^dry run: nothing restored$/m);
    await assert.rejects(readdir(pgData), /ENOENT/);
    const plan = JSON.parse(
      (await lifeboat(['restore', '--app', 'verpa', '--at', T, '--env', 'staging', '--dry-run', '--json']))
        .stdout,
    ).plan as {
      sources: { source: string; method: string; recoversTo: string; snapshots: { id: string }[] }[];
      skewMs: number;
    };
    assert.deepEqual(
      plan.sources.map((s) => [s.source, s.method]),
      [
        ['verpa-db', 'pitr'],
        ['verpa-shop', 'snapshot'],
        ['verpa-cache', 'snapshot'],
        ['verpa-files', 'snapshot'],
      ],
    );
    assert.equal(plan.sources[0].recoversTo, T);
    assert.ok(plan.skewMs > 1000, `skew ${plan.skewMs}`);

    // The restore, every source verified; the app's recovery time reported. PostgreSQL was
    // started on the data directory, recovered to T and stopped: the moment it reached lies
    // between the batches, and it holds batch A's rows only.
    const restored = await lifeboat(['restore', '--app', 'verpa', '--at', T, '--env', 'staging']);
    assert.match(
      restored.stdout,
      /^verpa restored to staging: 4 of 4 sources verified; recovery time \d+\.\ds; skew \d+\.\ds$/m,
    );
    const moment = /^verpa-db: recovered to (\S+) and verified in /m.exec(restored.stdout)?.[1];
    assert.ok(moment, restored.stdout);
    assert.ok(
      Date.parse(moment) > new Date(afterA).getTime() && Date.parse(moment) <= Date.parse(T),
      `recovered to ${moment}: not between batch A (${new Date(afterA).toISOString()}) and T (${T})`,
    );
    // The moment is PostgreSQL's last replayed transaction: the notes, after the base backup.
    assert.match(restored.stdout, new RegExp(`; last transaction ${moment.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(restored.stdout, /^ {2}ok recovery finished: promoted at [0-9A-F]+\/[0-9A-F]+;/m);
    assert.match(
      restored.stdout,
      new RegExp(`^ {2}ok recovery target: reached ${T.replace(/\./g, '\\.')}`, 'm'),
    );
    assert.match(
      restored.stdout,
      /^ {2}ok rows: .*\bpostgres\.public\.items 100\b.*\bpostgres\.public\.notes 5\b/m,
    );
    assert.match(restored.stdout, /^ {2}(ok|skipped) pg_amcheck: /m);
    assert.match(restored.stdout, /^ {2}ok count keysTotal: 10$/m);
    assert.match(restored.stdout, /^ {2}ok count files: 3$/m);
    assert.match(restored.stdout, /^ {2}ok count rows: 1 match$/m);
    assert.deepEqual(await redisKeys(stagingCache), Array.from({ length: 10 }, (_, i) => `a:${i}`).sort());
    assert.deepEqual((await readdir(join(staging, 'files'))).sort(), ['A-0.txt', 'A-1.txt', 'A-2.txt']);
    const shop = maria.rootSql('SELECT batch, COUNT(*) FROM verpa_staging.orders GROUP BY batch;').trim();
    assert.equal(shop, 'A\t20');
    restoredPg = await startPostgres({ existingDir: pgData, readyTimeoutMs: 120_000 });
    await promoted(restoredPg);
    const rows = await sql<{ batch: string; c: string }>(
      restoredPg.url,
      'SELECT batch, count(*)::text AS c FROM items GROUP BY batch ORDER BY batch',
    );
    assert.deepEqual(rows, [{ batch: 'A', c: '100' }]);
    await restoredPg.stop();
    restoredPg = undefined;

    // One source, the same verification: restore --source --at --to DATADIR --verify.
    const single = join(staging, 'pg-single', 'data');
    const one = await lifeboat([
      'restore',
      'latest',
      '--source',
      'verpa-db',
      '--at',
      T,
      '--to',
      single,
      '--verify',
    ]);
    assert.match(one.stdout, /^ {2}ok rows: .*\bpostgres\.public\.items 100\b/m);
    assert.match(
      one.stdout,
      new RegExp(
        `^recovered to ${moment.replace(/\./g, '\\.')} and stopped in \\d+\\.\\ds; ${single} is promoted, ready to start$`,
        'm',
      ),
    );
    await assert.rejects(readdir(join(single, 'recovery.signal')), /ENOENT/);

    // With --json, one document: what was restored and what the verification found.
    const asJson = await lifeboat([
      'restore',
      'latest',
      '--source',
      'verpa-db',
      '--at',
      T,
      '--to',
      join(staging, 'pg-json', 'data'),
      '--verify',
      '--json',
    ]);
    const verified = JSON.parse(asJson.stdout) as {
      at: string;
      verified: boolean;
      recoveredTo: string;
      rows: Record<string, number>;
    };
    assert.equal(verified.at, T);
    assert.equal(verified.verified, true);
    assert.equal(verified.recoveredTo, moment);
    assert.equal(verified.rows['postgres.public.items'], 100);

    // A point restores as it was taken; --only picks sources.
    const cacheOnly = await lifeboat([
      'restore',
      '--app',
      'verpa',
      '--point',
      p2.point.id.slice(0, 8),
      '--env',
      'staging',
      '--only',
      'verpa-cache',
    ]);
    assert.match(cacheOnly.stdout, /^ {4}overwrites .*: 10 keys$/m);
    assert.match(cacheOnly.stdout, /1 of 1 sources verified/);
    assert.equal((await redisKeys(stagingCache)).length, 20);

    // Usage errors name what is missing.
    const noEnv = await lifeboat(['restore', '--app', 'verpa', '--at', T, '--env', 'qa'], false);
    assert.equal(noEnv.code, 2, show([], noEnv));
    assert.match(noEnv.stderr, /app "verpa" has no environment "qa" \(known: staging, production/);

    // The drill: every source of the newest point into scratch servers, the app's RTO kept.
    const drill = await lifeboat(['drill', '--app', 'verpa']);
    assert.match(
      drill.stdout,
      new RegExp(
        `^drill [0-9a-f]{8} of app verpa point ${p2.point.id.slice(0, 8)}: passed, application recovery time \\d+\\.\\ds$`,
        'm',
      ),
    );
    assert.match(drill.stdout, /^ {2}ok +verpa-db: rows: .*\bpostgres\.public\.items 200\b/m);
    // An older point: its base backup is recovered to the point's moment, not to the latest,
    // so the drill finds point 1's rows.
    const old = await lifeboat(['drill', '--app', 'verpa', '--point', listed[0].id.slice(0, 8)]);
    assert.match(
      old.stdout,
      new RegExp(`^drill [0-9a-f]{8} of app verpa point ${listed[0].id.slice(0, 8)}: passed`, 'm'),
    );
    assert.match(old.stdout, /^ {2}ok +verpa-db: rows: .*\bpostgres\.public\.items 100\b/m);
    assert.match(old.stdout, /^ {2}ok +verpa-db: recovery target: reached /m);
    assert.match(old.stdout, /^ {2}ok +verpa-shop: count rows: 1 match$/m);
    const drills = await lifeboat(['drill', '--list', '--app', 'verpa']);
    assert.match(drills.stdout, /app:verpa .* passed/);

    // A time the archive's window still takes but its WAL does not reach (the source server
    // stopped: its last segment, with the last commits, is never archived). Without --verify
    // the data directory would wait for WAL that never comes; with it, the restore fails at
    // once, saying PostgreSQL's reason and the segment it lacked.
    await pg.stop();
    const end = join(staging, 'pg-end', 'data');
    const probe = await lifeboat([
      'restore',
      'latest',
      '--source',
      'verpa-db',
      '--at',
      'latest',
      '--to',
      end,
      '--dry-run',
      '--json',
    ]);
    const windowEnd = (JSON.parse(probe.stdout) as { window: { to: string } }).window.to;
    const short = await lifeboat(
      ['restore', 'latest', '--source', 'verpa-db', '--at', windowEnd, '--to', end, '--verify'],
      false,
    );
    assert.equal(short.code, 1, show([], short));
    assert.match(
      short.stderr,
      /could not recover to .*recovery ended before configured recovery target was reached/,
    );
    assert.match(short.stderr, /\(WAL [0-9A-F]{24} is not in the repository: run `lifeboat check`\)/);

    // A hole in the archived WAL between the base backup and T: the PostgreSQL source fails
    // naming the missing segment, the others are restored, the exit code says partial (3).
    const base = (
      JSON.parse((await lifeboat(['snapshots', '--source', 'verpa-db', '--json'])).stdout) as {
        meta: { startWal?: string };
      }[]
    )[0];
    const segments = (await readdir(join(repo, 'wal')))
      .filter((n) => /-[0-9A-F]{24}$/.test(n))
      .sort((a, b) => a.slice(-16).localeCompare(b.slice(-16)));
    const victim = segments.find((n) => n.slice(-16) > String(base.meta.startWal).slice(-16)) as string;
    const { rm } = await import('node:fs/promises');
    await rm(join(repo, 'wal', victim));
    const missing = victim.slice(-24);
    const gap = await lifeboat(['restore', '--app', 'verpa', '--at', T, '--env', 'gap'], false);
    assert.equal(gap.code, 3, show([], gap));
    assert.match(gap.stdout, new RegExp(`^ {4}WAL ${missing} is missing from the repository`, 'm'));
    assert.match(
      gap.stdout,
      new RegExp(`^verpa-db: FAILED in .*: \\[restore\\] WAL ${missing} of "verpa-db" is missing from `, 'm'),
    );
    assert.match(gap.stdout, /^verpa restored to gap: 3 of 4 sources verified/m);
    assert.match(gap.stderr, new RegExp(`verpa-db: \\[restore\\] WAL ${missing} .* cannot pass it`));
    assert.deepEqual((await readdir(join(staging, 'files-gap'))).sort(), ['A-0.txt', 'A-1.txt', 'A-2.txt']);
  } finally {
    Object.assign(process.env, saved);
    for (const k of ['LIFEBOAT_REPO', 'LIFEBOAT_PASSWORD', 'LIFEBOAT_KDF_N', 'LIFEBOAT_CONFIG']) {
      if (!(k in saved)) delete process.env[k];
    }
    await restoredPg?.stop().catch(() => {});
    await pg?.stop().catch(() => {});
    await maria?.stop().catch(() => {});
    await cache?.stop().catch(() => {});
    await stagingCache?.stop().catch(() => {});
    const { rm } = await import('node:fs/promises');
    await rm(work, { recursive: true, force: true });
  }
});
