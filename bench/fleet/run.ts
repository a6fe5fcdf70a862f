/**
 * @module bench/fleet/run
 * `node dist/bench/fleet/run.js [--sources 1000] [--workers 10] [--history 100000] [--seconds 180]
 *    [--json] [--keep]`
 *
 * Fleet mode against a single node, in one run, on the same sources. N `files` sources (one
 * folder of one small file each: the cheapest real backup) are scheduled every minute
 * (`* * * * *`, so every source's slot falls on the same second: a burst of N jobs a minute).
 *
 * - single node: a SQLite catalog and one `lifeboat serve` (concurrency 2, its default);
 * - fleet: a throwaway PostgreSQL catalog, two `lifeboat serve` instances and W `lifeboat
 *   worker` processes (real CLI processes, concurrency 2 each).
 *
 * Before each phase, `--history` finished jobs are put in the catalog with insertFinishedJobs,
 * so the API answers over a catalog that has been in use. Each phase measures a window of
 * `--seconds` from its first minute boundary (the first slot); at its start, autocannon (10 connections, 10 s each) measures GET /api/jobs (the
 * default page) and GET /api/sources while the slot's burst is being worked off. After the
 * phase the catalog gives the figures: scheduler lag is a scheduled job's `started_at` minus
 * its slot time (fleet: the slot from the claims table; single node: `created_at` floored to
 * the minute, which is its slot as long as a slot is fired within the minute), and jobs per
 * minute counts the window's scheduled jobs that finished successfully inside it. Processes are
 * stopped at the window's end: a job still queued then counts as not started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import type { JobRecord } from '../../src/catalog/catalog.js';
import { openCatalog } from '../../src/catalog/open-catalog.js';
import { systemClock } from '../../src/clock.js';
import { postgresUnavailable, startPostgres } from '../../src/testing/servers/postgres.js';

const BIN = fileURLToPath(new URL('../../../bin/lifeboat.js', import.meta.url));
const PASSWORD = 'bench-fleet-password';
const API_SECONDS = 10;
const API_CONNECTIONS = 10;

interface Options {
  sources: number;
  workers: number;
  history: number;
  seconds: number;
  json: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { sources: 1000, workers: 10, history: 100_000, seconds: 180, json: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (min: number) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < min) throw new Error(`${a} needs a whole number >= ${min}`);
      return v;
    };
    if (a === '--sources') o.sources = next(1);
    else if (a === '--workers') o.workers = next(0);
    else if (a === '--history') o.history = next(0);
    else if (a === '--seconds') o.seconds = next(30);
    else if (a === '--json') o.json = true;
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown option ${a} (see the header of bench/fleet/run.ts)`);
  }
  return o;
}

const log = (m: string) =>
  process.stderr.write(`[bench:fleet] ${new Date().toISOString().slice(11, 19)} ${m}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Proc {
  child: ChildProcess;
  out: () => string;
  match: RegExpExecArray;
}

function start(args: string[], env: NodeJS.ProcessEnv, cwd: string, ready: RegExp): Promise<Proc> {
  const child = spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const add = (d: string) => {
    out += d;
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.setEncoding('utf8').on('data', add);
  child.stderr?.setEncoding('utf8').on('data', add);
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 120_000;
    const timer = setInterval(() => {
      const m = ready.exec(out);
      if (m) {
        clearInterval(timer);
        resolve({ child, out: () => out, match: m });
      } else if (child.exitCode !== null || Date.now() > deadline) {
        clearInterval(timer);
        child.kill('SIGKILL');
        reject(new Error(`lifeboat ${args[0]} did not start:\n${out.slice(-4000)}`));
      }
    }, 50);
  });
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((resolve) => p.child.once('exit', resolve));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

function runCli(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`lifeboat ${args.join(' ')} exited ${code}:\n${err}`)),
    );
  });
}

function configText(o: Options, dir: string, repo: string, catalog: string): string {
  const lines = [
    `repository:\n  url: ${repo}`,
    `server:\n  catalog: ${catalog}\n  concurrency: 2`,
    'sources:',
  ];
  for (let i = 0; i < o.sources; i++) {
    lines.push(
      `  s${i}:\n    type: files\n    path: ${join(dir, 'data', `s${i}`)}\n    schedule: "* * * * *"`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `count` finished backups of the sources, one a minute before the run, as history. */
function history(o: Options, before: number): Omit<JobRecord, 'id' | 'snapshot'>[] {
  const jobs: Omit<JobRecord, 'id' | 'snapshot'>[] = [];
  for (let i = 0; i < o.history; i++) {
    const created = before - (o.history - i) * 60_000;
    jobs.push({
      kind: 'backup',
      source: `s${i % o.sources}`,
      trigger: 'schedule',
      status: i % 50 === 0 ? 'failed' : 'succeeded',
      created_at: new Date(created).toISOString(),
      started_at: new Date(created + 200).toISOString(),
      finished_at: new Date(created + 1200).toISOString(),
      bytes_read: 12,
      bytes_stored: 400,
      snapshots: [],
      error: i % 50 === 0 ? '[source:files] bench: an old failure' : null,
      requested_by: 'scheduler',
      approved_by: null,
      params: {},
      result: null,
      rebuilt: false,
      retry_of: null,
      owner: null,
    });
  }
  return jobs;
}

async function fillHistory(catalogLocation: string, o: Options, before: number): Promise<string> {
  const catalog = await openCatalog(catalogLocation, systemClock);
  try {
    const all = history(o, before);
    for (let i = 0; i < all.length; i += 5000) await catalog.insertFinishedJobs(all.slice(i, i + 5000));
    const { token } = await catalog.tokens.create('bench', 'viewer', 'bench');
    return token;
  } finally {
    await catalog.close();
  }
}

interface ApiResult {
  p50: number;
  p99: number;
  rps: number;
  errors: number;
}

async function api(base: string, path: string, token: string): Promise<ApiResult> {
  const r = await autocannon({
    url: base + path,
    connections: API_CONNECTIONS,
    duration: API_SECONDS,
    // Long enough that a slow answer is measured rather than dropped as a timeout.
    timeout: 60,
    headers: { authorization: `Bearer ${token}` },
  });
  // No answer inside the window: no latency to show (autocannon reports 0).
  const answered = r.requests.total > 0;
  return {
    p50: answered ? r.latency.p50 : Number.NaN,
    p99: answered ? r.latency.p99 : Number.NaN,
    rps: Math.round(r.requests.average),
    errors: r.errors + r.non2xx,
  };
}

/** One scheduled job of the window: its slot and when it was created, started and finished. */
interface Scheduled {
  slot: number;
  status: string;
  started: number | null;
  finished: number | null;
}

interface PhaseResult {
  mode: string;
  processes: string;
  historySeconds: number;
  scheduled: number;
  started: number;
  skipped: number;
  notStarted: number;
  lagMs: { p50: number; p99: number; max: number };
  jobsPerMinute: number;
  jobsApi: ApiResult;
  sourcesApi: ApiResult;
  load: number[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * The measured window: from the first minute boundary (the first slot) for `--seconds`; the API
 * is measured at its start, while the first burst is worked off.
 */
async function window(o: Options, base: string, token: string) {
  const boundary = Math.ceil((Date.now() + 1000) / 60_000) * 60_000;
  log(`waiting for the first slot at ${new Date(boundary).toISOString().slice(11, 19)}`);
  await sleep(boundary + 500 - Date.now());
  log(`GET /api/jobs, then GET /api/sources: ${API_CONNECTIONS} connections, ${API_SECONDS}s each`);
  const jobsApi = await api(base, '/api/jobs', token);
  const sourcesApi = await api(base, '/api/sources', token);
  const end = boundary + o.seconds * 1000;
  if (end > Date.now()) await sleep(end - Date.now());
  return { jobsApi, sourcesApi, start: boundary, end };
}

function summarize(
  mode: string,
  processes: string,
  all: Scheduled[],
  windowStart: number,
  windowEnd: number,
  rest: Pick<PhaseResult, 'jobsApi' | 'sourcesApi' | 'historySeconds' | 'load'>,
): PhaseResult {
  const rows = all.filter((r) => r.slot >= windowStart && r.slot < windowEnd);
  // A skipped slot is recorded started and finished at once: it is no start of a backup.
  const ran = rows.filter((r) => r.status !== 'skipped');
  const lags = ran
    .filter((r) => r.started !== null)
    .map((r) => (r.started as number) - r.slot)
    .sort((a, b) => a - b);
  const done = rows.filter(
    (r) => r.status === 'succeeded' && r.finished !== null && r.finished <= windowEnd,
  ).length;
  return {
    mode,
    processes,
    scheduled: rows.length,
    started: lags.length,
    skipped: rows.filter((r) => r.status === 'skipped').length,
    notStarted: ran.filter((r) => r.started === null).length,
    lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags.at(-1) ?? Number.NaN },
    jobsPerMinute: Math.round((done * 60_000) / (windowEnd - windowStart)),
    ...rest,
  };
}

async function single(o: Options, dir: string, env: NodeJS.ProcessEnv): Promise<PhaseResult> {
  const home = join(dir, 'single');
  mkdirSync(home);
  const catalogFile = join(home, 'lifeboat.catalog.sqlite');
  writeFileSync(join(home, 'lifeboat.yaml'), configText(o, dir, join(home, 'repo'), catalogFile));
  const config = ['--config', join(home, 'lifeboat.yaml')];
  await runCli(['init', ...config], env, home);
  log(`single node: ${o.history} finished jobs into the SQLite catalog`);
  let t = performance.now();
  const token = await fillHistory(catalogFile, o, Date.now());
  const historySeconds = (performance.now() - t) / 1000;
  t = Date.now();
  const serve = await start(
    ['serve', '--listen', '127.0.0.1:0', ...config],
    env,
    home,
    /serving on (http:\/\/\S+)/,
  );
  const load: number[] = [];
  try {
    const w = await window(o, serve.match[1], token);
    load.push(loadavg()[0]);
    await stop(serve);
    const catalog = await openCatalog(catalogFile, systemClock);
    try {
      const jobs = (await catalog.listJobs({ since: new Date(t).toISOString(), limit: 1_000_000 })).filter(
        (j) => j.trigger === 'schedule',
      );
      const rows = jobs.map((j) => ({
        slot: Math.floor(Date.parse(j.created_at) / 60_000) * 60_000,
        status: j.status,
        started: j.started_at ? Date.parse(j.started_at) : null,
        finished: j.finished_at ? Date.parse(j.finished_at) : null,
      }));
      return summarize('single node', '1 serve, SQLite catalog', rows, w.start, w.end, {
        jobsApi: w.jobsApi,
        sourcesApi: w.sourcesApi,
        historySeconds,
        load,
      });
    } finally {
      await catalog.close();
    }
  } finally {
    await stop(serve);
  }
}

async function fleet(o: Options, dir: string, env: NodeJS.ProcessEnv): Promise<PhaseResult> {
  const home = join(dir, 'fleet');
  mkdirSync(home);
  const server = await startPostgres({
    settings: { max_connections: '300', max_locks_per_transaction: '256' },
  });
  const procs: Proc[] = [];
  const pool = new pg.Pool({ connectionString: server.url, max: 2 });
  pool.on('error', () => {});
  try {
    writeFileSync(join(home, 'lifeboat.yaml'), configText(o, dir, join(home, 'repo'), server.url));
    const config = ['--config', join(home, 'lifeboat.yaml')];
    await runCli(['init', ...config], env, home);
    log(`fleet: ${o.history} finished jobs into the PostgreSQL catalog`);
    let t = performance.now();
    const token = await fillHistory(server.url, o, Date.now());
    const historySeconds = (performance.now() - t) / 1000;
    t = Date.now();
    const serving = /serving on (http:\/\/\S+)/;
    const started = await Promise.all([
      start(['serve', '--listen', '127.0.0.1:0', ...config], env, home, serving),
      start(['serve', '--listen', '127.0.0.1:0', ...config], env, home, serving),
      ...Array.from({ length: o.workers }, () =>
        start(['worker', ...config], env, home, /worker (\S+) running/),
      ),
    ]);
    procs.push(...started);
    log(`fleet: 2 serve instances and ${o.workers} workers up`);
    const load: number[] = [];
    const w = await window(o, started[0].match[1], token);
    load.push(loadavg()[0]);
    await Promise.all(procs.map(stop));
    // One source's half of the lookup behind GET /api/sources (lastBackupOutcomes), on the filled catalog.
    const plan = await pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN ANALYZE SELECT * FROM lifeboat.jobs
        WHERE kind = 'backup' AND source = 's1' AND status IN ('succeeded', 'failed')
        ORDER BY COALESCE(started_at, created_at) DESC, pos DESC LIMIT 1`,
    );
    log(`last finished backup of s1, plan:\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
    const { rows } = await pool.query<{
      slot: Date;
      status: string;
      started_at: string | null;
      finished_at: string | null;
    }>(
      `SELECT s.slot, j.status, j.started_at, j.finished_at
         FROM lifeboat_queue.fleet_slot s JOIN lifeboat.jobs j ON j.id = s.job_id
        WHERE j.trigger = 'schedule' AND s.slot >= $1`,
      [new Date(t)],
    );
    return summarize(
      'fleet',
      `2 serve + ${o.workers} worker processes, PostgreSQL ${server.major} catalog`,
      rows.map((r) => ({
        slot: new Date(r.slot).getTime(),
        status: r.status,
        started: r.started_at ? Date.parse(r.started_at) : null,
        finished: r.finished_at ? Date.parse(r.finished_at) : null,
      })),
      w.start,
      w.end,
      { jobsApi: w.jobsApi, sourcesApi: w.sourcesApi, historySeconds, load },
    );
  } finally {
    await Promise.all(procs.map(stop));
    await pool.end();
    await server.stop();
  }
}

function report(o: Options, s: PhaseResult, f: PhaseResult, load: { start: number; end: number }): string {
  const shown = (v: number) => (Number.isNaN(v) ? 'none' : String(v));
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '-');
  const rows: [string, number, number][] = [
    ['scheduler lag p50 (ms)', s.lagMs.p50, f.lagMs.p50],
    ['scheduler lag p99 (ms)', s.lagMs.p99, f.lagMs.p99],
    ['scheduler lag max (ms)', s.lagMs.max, f.lagMs.max],
    ['scheduled jobs', s.scheduled, f.scheduled],
    ['  started', s.started, f.started],
    ['  skipped (previous still running)', s.skipped, f.skipped],
    ['  not started by the end', s.notStarted, f.notStarted],
    ['jobs completed per minute', s.jobsPerMinute, f.jobsPerMinute],
    ['GET /api/jobs p50 (ms)', s.jobsApi.p50, f.jobsApi.p50],
    ['GET /api/jobs p99 (ms)', s.jobsApi.p99, f.jobsApi.p99],
    ['GET /api/jobs req/s', s.jobsApi.rps, f.jobsApi.rps],
    ['GET /api/sources p50 (ms)', s.sourcesApi.p50, f.sourcesApi.p50],
    ['GET /api/sources p99 (ms)', s.sourcesApi.p99, f.sourcesApi.p99],
    ['GET /api/sources req/s', s.sourcesApi.rps, f.sourcesApi.rps],
    ['history insert (s)', Number(s.historySeconds.toFixed(1)), Number(f.historySeconds.toFixed(1))],
    ['1-min load at the end of the phase', s.load[0], f.load[0]],
  ];
  const table = [
    ['', 'single node', 'fleet', 'fleet/single'],
    ...rows.map(([k, a, b]) => [k, shown(a), shown(b), ratio(b, a)]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const lines = [
    `lifeboat fleet vs single node: ${o.sources} files sources scheduled every minute, ${o.history} finished jobs of history, ${o.seconds}s per mode`,
    `  single node: ${s.processes}; fleet: ${f.processes}; concurrency 2 per process`,
    `  machine: ${cpus().length} CPUs, 1-minute load average ${load.start.toFixed(2)} at start, ${load.end.toFixed(2)} at end`,
    '',
    ...table.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')),
  ];
  const errors = s.jobsApi.errors + s.sourcesApi.errors + f.jobsApi.errors + f.sourcesApi.errors;
  if (errors > 0) lines.push('', `API errors or non-2xx answers: ${errors}`);
  lines.push(`'none': no request answered within the ${API_SECONDS} s of the measurement.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const unavailable = postgresUnavailable();
  if (unavailable) {
    process.stdout.write(`SKIPPED bench:fleet: ${unavailable}\n`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-bench-fleet-'));
  try {
    for (let i = 0; i < o.sources; i++) {
      mkdirSync(join(dir, 'data', `s${i}`), { recursive: true });
      writeFileSync(join(dir, 'data', `s${i}`, 'a.txt'), `source ${i}\n`);
    }
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
    Object.assign(env, { LIFEBOAT_PASSWORD: PASSWORD, LIFEBOAT_KDF_N: '1024', LIFEBOAT_LOG_LEVEL: 'warn' });
    const loadStart = loadavg()[0];
    log(
      `${o.sources} sources, ${o.workers} workers, ${o.history} jobs of history, ${o.seconds}s per mode; load ${loadStart.toFixed(2)}`,
    );
    const s = await single(o, dir, env);
    const f = await fleet(o, dir, env);
    const load = { start: loadStart, end: loadavg()[0] };
    if (o.json)
      process.stdout.write(`${JSON.stringify({ options: o, single: s, fleet: f, load }, null, 2)}\n`);
    else process.stdout.write(`${report(o, s, f, load)}\n`);
  } finally {
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
}

main().catch((err) => {
  process.stderr.write(`[bench:fleet] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
