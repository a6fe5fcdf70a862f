/**
 * @module jobs/drill-integrity
 * The engines' own integrity checks on what a drill restored, each a named check in the
 * report: `PRAGMA integrity_check` (sqlite), pg_amcheck (postgres: tables and B-tree
 * indexes, with the amcheck extension installed into the scratch database on the way),
 * redis-check-rdb (redis: the RDB file as the repository holds it), opening the
 * restored LMDB environment read-only, and the restored file's SHA-256 (command). A check whose tool is not installed is reported as
 * skipped, with why: never as passed.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe } from '../errors.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { findPostgresBinDir } from '../scratch/postgres.js';
import { loadArtifacts, writeArtifactToFile } from '../sources/artifact.js';
import { countEntries, detectFormat } from '../sources/lmdb/lmdb-env.js';

export interface DrillCheckResult {
  name: string;
  /** True when the check ran and held. */
  ok: boolean;
  /** The check could not run here (its tool is missing): neither passed nor failed. */
  skipped?: boolean;
  detail: string;
  ms: number;
}

/** A check that failed the drill (a skipped one did not). */
export function checkFailed(c: DrillCheckResult): boolean {
  return !c.ok && !c.skipped;
}

export const CHECK_NAMES = {
  sqlite: 'sqlite integrity_check',
  pgAmcheck: 'pg_amcheck',
  redisCheckRdb: 'redis-check-rdb',
  lmdb: 'lmdb open read-only',
  artifactSha256: 'artifact sha256',
} as const;

export interface IntegrityTarget {
  repo: Repository;
  snapshot: Snapshot;
  /** What the restore wrote to: a file or folder path, or a database URL. */
  target: string;
}

/** The engine's integrity check of a restored snapshot; none for engines without one. */
export async function integrityChecks(t: IntegrityTarget): Promise<DrillCheckResult[]> {
  switch (t.snapshot.engine) {
    case 'sqlite':
      return [await timed(CHECK_NAMES.sqlite, () => sqliteIntegrity(t.target))];
    case 'postgres':
      return [await pgAmcheck(t.target, { allDatabases: false })];
    case 'redis':
      return [await timed(CHECK_NAMES.redisCheckRdb, () => redisCheckRdb(t.repo, t.snapshot))];
    case 'lmdb':
      return [await timed(CHECK_NAMES.lmdb, () => lmdbReadOnly(t.target))];
    case 'command':
      return [await timed(CHECK_NAMES.artifactSha256, () => fileSha256(t.target, t.snapshot))];
    default:
      return [];
  }
}

type Outcome = { ok: boolean; detail: string; skipped?: boolean };

async function timed(name: string, run: () => Promise<Outcome> | Outcome): Promise<DrillCheckResult> {
  const t0 = Date.now();
  try {
    const r = await run();
    return { name, ...r, ms: Date.now() - t0 };
  } catch (err) {
    return { name, ok: false, detail: describe(err), ms: Date.now() - t0 };
  }
}

function skipped(detail: string): Outcome {
  return { ok: false, skipped: true, detail };
}

function sqliteIntegrity(path: string): Outcome {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    const text = rows.map((r) => r.integrity_check).join('; ');
    return { ok: text === 'ok', detail: text };
  } finally {
    db.close();
  }
}

/** The pg_amcheck of the installed PostgreSQL, or one on PATH. */
export function findPgAmcheck(): string | null {
  const bin = findPostgresBinDir();
  if (bin && existsSync(join(bin, 'pg_amcheck'))) return join(bin, 'pg_amcheck');
  return onPath('pg_amcheck');
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/**
 * pg_amcheck against the database of `url` (or, with allDatabases, every database of its
 * cluster): heap pages and B-tree indexes. `--install-missing` creates the amcheck extension
 * (PostgreSQL's contrib) in the scratch database first. The password goes by PGPASSWORD,
 * not on the command line.
 */
export async function pgAmcheck(url: string, opts: { allDatabases: boolean }): Promise<DrillCheckResult> {
  return timed(CHECK_NAMES.pgAmcheck, async () => {
    const tool = findPgAmcheck();
    if (!tool) return skipped('pg_amcheck not found (it comes with the postgresql package, PostgreSQL 14+)');
    const u = new URL(url);
    const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres';
    // A unix socket folder comes percent-encoded in the host part.
    const host = decodeURIComponent(u.hostname);
    const args = ['--install-missing', '--no-password', '-h', host, '-p', u.port || '5432'];
    if (u.username) args.push('-U', decodeURIComponent(u.username));
    if (opts.allDatabases) args.push('--all', '--maintenance-db', database);
    else args.push(database);
    const env: Record<string, string> = { PGCONNECT_TIMEOUT: '10' };
    if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
    const sslmode = u.searchParams.get('sslmode');
    if (sslmode) env.PGSSLMODE = sslmode;
    const r = await runProgram(tool, args, env);
    const out = r.output.trim();
    if (r.code === 0)
      return {
        ok: true,
        detail: opts.allDatabases
          ? 'every database: no corruption found'
          : `${database}: no corruption found`,
      };
    if (/could not open extension control file|extension "amcheck" is not available/i.test(out)) {
      return skipped(`the amcheck extension is not installed on the scratch server: ${lastLines(out)}`);
    }
    return { ok: false, detail: `exit ${r.code}: ${lastLines(out)}` };
  });
}

function lastLines(text: string): string {
  return text.split('\n').slice(-6).join(' | ').slice(-600);
}

/** The snapshot's RDB file, as the repository holds it, through redis-check-rdb. */
async function redisCheckRdb(repo: Repository, snapshot: Snapshot): Promise<Outcome> {
  const tool = onPath('redis-check-rdb');
  if (!tool) return skipped('redis-check-rdb not found (apt-get install redis-tools)');
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-drill-'));
  const lock = await repo.lock(false, 'drill: redis-check-rdb');
  try {
    await repo.loadIndex();
    const store = new RepoContentStore(repo);
    const nodes = await loadArtifacts(store, snapshot.root);
    const wanted = typeof snapshot.meta.artifact === 'string' ? snapshot.meta.artifact : 'dump.rdb';
    const node = nodes.find((n) => n.name === wanted) ?? nodes[0];
    if (!node) return { ok: false, detail: 'the snapshot holds no RDB file' };
    const file = join(dir, 'dump.rdb');
    await writeArtifactToFile(store, node, file);
    const r = await runProgram(tool, [file]);
    const out = r.output.trim();
    const ok = r.code === 0 && /RDB looks OK/i.test(out);
    return { ok, detail: ok ? `${node.size} bytes: RDB looks OK` : `exit ${r.code}: ${lastLines(out)}` };
  } finally {
    await lock.release().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

async function lmdbReadOnly(dir: string): Promise<Outcome> {
  const format = await detectFormat(dir);
  const counts = await countEntries(dir, format);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return {
    ok: true,
    detail: `format ${format}: ${Object.keys(counts).length} database(s), ${total} entries readable`,
  };
}

/** The restored file read back from disk, hashed, against the hash the snapshot recorded. */
async function fileSha256(file: string, snapshot: Snapshot): Promise<Outcome> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  const got = hash.digest('hex');
  const want = snapshot.stats.sha256;
  return got === want
    ? { ok: true, detail: `${file}: ${got.slice(0, 16)}…, as recorded` }
    : {
        ok: false,
        detail: `${file}: sha256 ${got.slice(0, 16)}…, the snapshot recorded ${String(want).slice(0, 16)}…`,
      };
}

export function runProgram(
  program: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(program, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const add = (d: string) => {
      output = (output + d).slice(-64_000);
    };
    child.stdout.setEncoding('utf8').on('data', add);
    child.stderr.setEncoding('utf8').on('data', add);
    child.on('error', (err) => resolve({ code: 127, output: err.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}
