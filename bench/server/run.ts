/**
 * @module bench/server/run
 * `node dist/bench/server/run.js [--snapshots 10000] [--connections 100] [--duration 10]
 *    [--node-options "--max-semi-space-size=2"] [--json] [--keep]`
 *
 * The server under load: a repository with N snapshots, the real `lifeboat serve` in a child
 * process, and autocannon sending GET /api/snapshots (the default page of 100, newest first)
 * from 100 connections. Reports throughput, latency percentiles and the daemon's resident
 * memory idle before the load and after it. Targets: p99 < 50 ms, idle RSS < 150 MiB.
 * `--node-options` starts the server with those NODE_OPTIONS (docs/server.md recommends a
 * small young generation for the daemon: it lowers idle memory by about 25 MiB).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { openCatalog } from '../../src/catalog/open-catalog.js';
import { systemClock } from '../../src/clock.js';
import { mapLimit, Repository } from '../../src/repo/repository.js';
import type { Snapshot } from '../../src/repo/snapshot.js';
import { openBackend } from '../../src/storage/registry.js';

const BIN = fileURLToPath(new URL('../../../bin/lifeboat.js', import.meta.url));
const PASSWORD = 'bench-server-password';
const MiB = 1024 * 1024;

interface Options {
  snapshots: number;
  connections: number;
  duration: number;
  json: boolean;
  keep: boolean;
  nodeOptions: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    snapshots: 10_000,
    connections: 100,
    duration: 10,
    json: false,
    keep: false,
    nodeOptions: '',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--snapshots') o.snapshots = next();
    else if (a === '--connections') o.connections = next();
    else if (a === '--duration') o.duration = next();
    else if (a === '--json') o.json = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--node-options') o.nodeOptions = argv[++i] ?? '';
    else throw new Error(`unknown option ${a} (see the header of bench/server/run.ts)`);
  }
  return o;
}

const log = (m: string) => process.stderr.write(`[bench:server] ${m}\n`);

/** N snapshots of four sources, an hour apart, as a real backup would write them. */
async function fillRepository(repoPath: string, n: number): Promise<void> {
  const repo = await Repository.init(await openBackend(repoPath), PASSWORD, { kdf: { N: 1024, r: 8, p: 1 } });
  const start = Date.parse('2025-01-01T00:00:00Z');
  const sources = ['app-db', 'uploads', 'sessions', 'analytics'];
  await mapLimit(
    Array.from({ length: n }, (_, i) => i),
    32,
    async (i) => {
      const source = sources[i % sources.length];
      const snapshot: Snapshot = {
        version: 1,
        time: new Date(start + i * 3_600_000).toISOString(),
        source,
        engine: source === 'uploads' ? 'files' : 'sqlite',
        kind: source === 'uploads' ? 'files' : 'logical',
        host: 'bench-host',
        username: 'backup',
        tags: i % 24 === 0 ? ['daily'] : [],
        programVersion: '0.1.0',
        root: randomBytes(32).toString('hex'),
        stats: {
          files: 1 + (i % 50),
          bytes: 1_000_000 + i * 17,
          rows: { users: 1000 + i, orders: 5000 + i },
        },
        meta: {},
        sourceConfig: { type: source === 'uploads' ? 'files' : 'sqlite', path: `/srv/${source}` },
        backup: { bytesRead: 1_000_000 + i * 17, bytesAdded: 4096 + (i % 100), durationMs: 1500 + (i % 300) },
      };
      await repo.saveSnapshot(snapshot);
    },
  );
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN);
  return kb * 1024;
}

async function startServer(
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--listen', '127.0.0.1:0', '--config', join(dir, 'lifeboat.yaml')],
    {
      env,
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d) => {
    err += d;
  });
  const deadline = Date.now() + 120_000;
  for (;;) {
    const m = /serving on (http:\/\/\S+)/.exec(out);
    if (m) return { child, base: m[1] };
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`serve did not start:\n${out}\n${err}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-bench-server-'));
  let child: ChildProcess | undefined;
  try {
    log(`writing ${o.snapshots} snapshots to ${dir}/repo`);
    let t = performance.now();
    await fillRepository(join(dir, 'repo'), o.snapshots);
    const fillSeconds = (performance.now() - t) / 1000;
    writeFileSync(
      join(dir, 'lifeboat.yaml'),
      `repository:\n  url: ${join(dir, 'repo')}\nsources:\n${['app-db', 'analytics', 'sessions']
        .map(
          (s) =>
            `  ${s}:\n    type: sqlite\n    path: /srv/${s}/db.sqlite\n    schedule: "0 3 * * *"\n    max_age: 26h\n`,
        )
        .join('')}  uploads:\n    type: files\n    path: /srv/uploads\n    schedule: "0 */6 * * *"\n`,
    );
    const catalog = await openCatalog(join(dir, 'lifeboat.catalog.sqlite'), systemClock);
    const { token } = await catalog.tokens.create('bench', 'viewer', 'bench');
    await catalog.close();

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LIFEBOAT_PASSWORD: PASSWORD,
      LIFEBOAT_LOG_LEVEL: 'warn',
      NODE_OPTIONS: o.nodeOptions,
    };
    delete env.LIFEBOAT_REPO;
    delete env.LIFEBOAT_CONFIG;
    delete env.LIFEBOAT_CATALOG;
    t = performance.now();
    const served = await startServer(dir, env);
    child = served.child;
    const startSeconds = (performance.now() - t) / 1000;
    log(`server up at ${served.base} in ${startSeconds.toFixed(1)}s; letting it settle`);
    await sleep(5_000);
    const idleRss = rssOf(child.pid!);

    const headers = { authorization: `Bearer ${token}` };
    const probe = await fetch(`${served.base}/api/snapshots`, { headers });
    const page = (await probe.json()) as { total: number; snapshots: unknown[] };
    if (probe.status !== 200 || page.total !== o.snapshots) {
      throw new Error(
        `GET /api/snapshots answered ${probe.status} with total ${page.total}, expected ${o.snapshots}`,
      );
    }
    const url = `${served.base}/api/snapshots`;
    log('warming up (2s)');
    await autocannon({ url, connections: o.connections, duration: 2, headers });
    log(`GET /api/snapshots, ${o.connections} connections, ${o.duration}s`);
    const r = await autocannon({ url, connections: o.connections, duration: o.duration, headers });
    const filtered = await autocannon({
      url: `${url}?source=uploads&after=2025-06-01T00:00:00Z&limit=50`,
      connections: o.connections,
      duration: Math.max(3, Math.round(o.duration / 2)),
      headers,
    });
    const loadedRss = rssOf(child.pid!);
    await sleep(5_000);
    const afterRss = rssOf(child.pid!);

    const result = {
      snapshots: o.snapshots,
      connections: o.connections,
      node_options: o.nodeOptions,
      duration_s: o.duration,
      fill_seconds: Number(fillSeconds.toFixed(1)),
      server_start_seconds: Number(startSeconds.toFixed(1)),
      page: {
        requests_per_second: Math.round(r.requests.average),
        latency_ms: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
        errors: r.errors,
        timeouts: r.timeouts,
        non_2xx: r.non2xx,
        mib_per_second: Number((r.throughput.average / MiB).toFixed(1)),
      },
      filtered: {
        requests_per_second: Math.round(filtered.requests.average),
        latency_ms: {
          p50: filtered.latency.p50,
          p90: filtered.latency.p90,
          p99: filtered.latency.p99,
          max: filtered.latency.max,
        },
        errors: filtered.errors,
        non_2xx: filtered.non2xx,
      },
      rss_mib: {
        idle_before_load: Number((idleRss / MiB).toFixed(1)),
        end_of_load: Number((loadedRss / MiB).toFixed(1)),
        idle_after_load: Number((afterRss / MiB).toFixed(1)),
      },
      targets: {
        p99_under_50ms: r.latency.p99 < 50,
        idle_rss_under_150mib: idleRss < 150 * MiB,
      },
    };
    if (o.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const l = result.page.latency_ms;
      const f = result.filtered.latency_ms;
      const lines = [
        `lifeboat serve, ${o.snapshots} snapshots, ${o.connections} connections${o.nodeOptions ? `, NODE_OPTIONS="${o.nodeOptions}"` : ''}`,
        `  GET /api/snapshots (page of 100):  ${result.page.requests_per_second} req/s, ${result.page.mib_per_second} MiB/s; latency p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, max ${l.max} ms; errors ${r.errors}, non-2xx ${r.non2xx}`,
        `  GET /api/snapshots?source=&after=&limit=50:  ${result.filtered.requests_per_second} req/s; latency p50 ${f.p50} ms, p90 ${f.p90} ms, p99 ${f.p99} ms, max ${f.max} ms`,
        `  RSS: idle ${result.rss_mib.idle_before_load} MiB before load, ${result.rss_mib.end_of_load} MiB at its end, ${result.rss_mib.idle_after_load} MiB idle after`,
        `  server start with ${o.snapshots} snapshots: ${result.server_start_seconds}s (repository filled in ${result.fill_seconds}s)`,
        `  targets: p99 < 50 ms ${result.targets.p99_under_50ms ? 'PASS' : 'FAIL'}; idle RSS < 150 MiB ${result.targets.idle_rss_under_150mib ? 'PASS' : 'FAIL'}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    if (!result.targets.p99_under_50ms || !result.targets.idle_rss_under_150mib) process.exitCode = 1;
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child?.once('exit', resolve));
    }
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
}

main().catch((err) => {
  process.stderr.write(`[bench:server] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
