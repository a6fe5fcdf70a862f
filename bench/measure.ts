/**
 * @module bench/measure
 * Running a command under GNU time (wall time, CPU time, peak RSS), dropping the page cache,
 * disk usage of a folder, and hashing a whole tree to compare a restore with its source.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

/** One measured command. */
export interface Sample {
  /** Wall-clock seconds. */
  wall: number;
  /** User and system CPU seconds (children included). */
  user: number;
  sys: number;
  /** Peak resident set size in bytes (GNU time's %M is KiB). */
  maxRss: number;
}

/** A command that failed: the message carries the command, exit status and its output. */
export class CommandError extends Error {}

/** Null when GNU time is usable, else what to do about it. */
export function checkGnuTime(): string | null {
  if (!existsSync(GNU_TIME)) return `GNU time is required for peak RSS: apt-get install time`;
  const r = spawnSync(GNU_TIME, ['-f', '%M', 'true'], { encoding: 'utf8' });
  if (r.status !== 0 || !/^\d+\s*$/m.test(r.stderr)) {
    return `${GNU_TIME} is not GNU time (needs -f %M): apt-get install time`;
  }
  return null;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Keeps the last `limit` characters of a stream's output. */
function tail(limit: number): { add(chunk: Buffer): void; text(): string } {
  let text = '';
  return {
    add(chunk) {
      text += chunk.toString('utf8');
      if (text.length > 2 * limit) text = text.slice(-limit);
    },
    text: () => (text.length > limit ? `...${text.slice(-limit)}` : text),
  };
}

/** Runs `command args` under GNU time; rejects with a CommandError on a non-zero exit. */
export function measure(command: string, args: string[], options: RunOptions = {}): Promise<Sample> {
  const timeFile = join(options.cwd ?? '.', `.time-${process.pid}-${Date.now()}`);
  const out = tail(20000);
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, '--', command, ...args], {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', out.add);
    child.stderr.on('data', out.add);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wall = Number(process.hrtime.bigint() - start) / 1e9;
      let timing = '';
      try {
        timing = readFileSync(timeFile, 'utf8');
        rmSync(timeFile, { force: true });
      } catch {
        // reported below
      }
      if (code !== 0) {
        const shown = [command, ...args].map((a) => (/^[\w./=:,@%+-]+$/.test(a) ? a : JSON.stringify(a)));
        reject(
          new CommandError(
            `command failed (${signal ? `signal ${signal}` : `exit ${code}`}): ${shown.join(' ')}\n${out.text().trimEnd()}`,
          ),
        );
        return;
      }
      const last = timing.trim().split('\n').pop() ?? '';
      const [, user, sys, rss] = last.split(/\s+/).map(Number);
      if (!Number.isFinite(rss)) {
        reject(
          new CommandError(`could not read GNU time's output for ${command}: ${JSON.stringify(timing)}`),
        );
        return;
      }
      resolve({ wall, user, sys, maxRss: rss * 1024 });
    });
  });
}

/** Runs a setup command (not measured); throws a CommandError with its output on failure. */
export function run(command: string, args: string[], options: RunOptions = {}): string {
  const r = spawnSync(command, args, { ...options, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new CommandError(
      `command failed (exit ${r.status ?? r.signal}): ${[command, ...args].join(' ')}\n${`${r.stdout}${r.stderr}`.trimEnd()}`,
    );
  }
  return r.stdout;
}

/** Flushes dirty pages and drops the page cache; false when not allowed (not root, container). */
export function dropCaches(): boolean {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

/** Disk usage of a folder: `du -sB1` (allocated blocks) and `du -sb` (apparent bytes). */
export function diskUsage(dir: string): { allocated: number; apparent: number } {
  const num = (args: string[]) =>
    Number(execFileSync('du', [...args, dir], { encoding: 'utf8' }).split(/\s/)[0]);
  return { allocated: num(['-s', '-B1']), apparent: num(['-sb']) };
}

/** One entry of a manifest; `mode` and `mtimeNs` only when hashed with metadata. */
export interface ManifestEntry {
  /** Bytes of a file; -1 for a folder (and for anything unexpected). */
  size: number;
  /** SHA-256 of a file's bytes; `dir` for a folder, else what the entry unexpectedly is. */
  sha256: string;
  /** Permission bits (`& 0o7777`). */
  mode?: number;
  mtimeNs?: bigint;
}

/** Relative path → sha256 of every regular file under `root` (and folders, with metadata). */
export type Manifest = Map<string, ManifestEntry>;

/**
 * Hashes every file under `root` (symlinks and special files are not expected in the tree).
 * With `metadata`, also records each file's and folder's mode and mtime, so a restore can be
 * compared with the tree as it was without keeping a copy of it.
 */
export function hashTree(root: string, options: { metadata?: boolean } = {}): Manifest {
  const manifest: Manifest = new Map();
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
  const meta = (path: string): Pick<ManifestEntry, 'mode' | 'mtimeNs'> => {
    if (!options.metadata) return {};
    const st = lstatSync(path, { bigint: true });
    return { mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs };
  };
  const walk = (dir: string, prefix: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = prefix + entry.name;
      if (entry.isDirectory()) {
        if (options.metadata) manifest.set(`${rel}/`, { size: -1, sha256: 'dir', ...meta(path) });
        walk(path, `${rel}/`);
      } else if (entry.isFile()) {
        const hash = createHash('sha256');
        const fd = openSync(path, 'r');
        let size = 0;
        try {
          for (
            let n = readSync(fd, buf, 0, buf.length, null);
            n > 0;
            n = readSync(fd, buf, 0, buf.length, null)
          ) {
            hash.update(buf.subarray(0, n));
            size += n;
          }
        } finally {
          closeSync(fd);
        }
        manifest.set(rel, { size, sha256: hash.digest('hex'), ...meta(path) });
      } else {
        manifest.set(rel, {
          size: -1,
          sha256: `unexpected ${entry.isSymbolicLink() ? 'symlink' : 'special file'}`,
        });
      }
    }
  };
  walk(root, '');
  return manifest;
}

/**
 * Differences between an expected and an actual manifest (empty when equal), at most `limit`;
 * mode and mtime are compared where both sides recorded them, mtimes to the microsecond (restores
 * set times through libuv, which keeps whole microseconds).
 */
export function compareManifests(expected: Manifest, actual: Manifest, limit = 20): string[] {
  const diffs: string[] = [];
  let count = 0;
  const note = (line: string) => {
    if (count++ < limit) diffs.push(line);
  };
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (!got) note(`missing: ${path}`);
    else if (got.sha256 !== want.sha256)
      note(`differs: ${path} (size ${got.size}, expected ${want.size}; sha256 ${got.sha256.slice(0, 16)}…)`);
    else if (want.mode !== undefined && got.mode !== undefined && want.mode !== got.mode)
      note(`mode differs: ${path} (${got.mode.toString(8)}, expected ${want.mode.toString(8)})`);
    else if (
      want.mtimeNs !== undefined &&
      got.mtimeNs !== undefined &&
      want.mtimeNs / 1000n !== got.mtimeNs / 1000n
    )
      note(`mtime differs: ${path} (${got.mtimeNs} ns, expected ${want.mtimeNs} ns)`);
  }
  for (const path of actual.keys()) if (!expected.has(path)) note(`extra: ${path}`);
  if (count > limit) diffs.push(`... and ${count - limit} more`);
  return diffs;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
