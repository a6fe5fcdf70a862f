/**
 * @module test/helpers/repo-files
 * Looking at a local repository from the outside, as the reliability tests do: its files by
 * kind, byte flips, watching for objects to appear (to kill a backup at a chosen moment), and
 * waiting for a child process to end.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, type FSWatcher, watch } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';

export type RepoFileKind = 'config' | 'key' | 'snapshot' | 'index' | 'pack' | 'lock';

export interface RepoFile {
  kind: RepoFileKind;
  /** Path relative to the repository root, '/'-separated. */
  rel: string;
  /** Storage name (the file name). */
  name: string;
  size: number;
}

const KIND_DIRS: [RepoFileKind, string][] = [
  ['key', 'keys'],
  ['lock', 'locks'],
  ['snapshot', 'snapshots'],
  ['index', 'index'],
];

export function isTempName(name: string): boolean {
  return name.startsWith('.');
}

/** Every object file in the repository (temp files excluded), config first, then by kind and name. */
export async function repoFiles(repo: string): Promise<RepoFile[]> {
  const out: RepoFile[] = [];
  const add = async (kind: RepoFileKind, rel: string) => {
    const st = await fs.stat(nodePath.join(repo, rel)).catch(() => undefined);
    if (st?.isFile()) out.push({ kind, rel, name: nodePath.basename(rel), size: st.size });
  };
  await add('config', 'config');
  for (const [kind, dir] of KIND_DIRS) {
    const names = await fs.readdir(nodePath.join(repo, dir)).catch(() => [] as string[]);
    for (const n of names.sort()) if (!isTempName(n)) await add(kind, `${dir}/${n}`);
  }
  const sub = await fs.readdir(nodePath.join(repo, 'data')).catch(() => [] as string[]);
  for (const s of sub.sort()) {
    const names = await fs.readdir(nodePath.join(repo, 'data', s)).catch(() => [] as string[]);
    for (const n of names.sort()) if (!isTempName(n)) await add('pack', `data/${s}/${n}`);
  }
  return out;
}

/** Temp files (`.tmp-*`) anywhere in the repository: writes that never finished. */
export async function tempFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(nodePath.join(dir, e.name), r);
      else if (isTempName(e.name)) out.push(r);
    }
  };
  await walk(repo, '');
  return out;
}

/** Inverts every bit of the byte at `offset`; returns a function that puts it back. */
export async function flipByte(path: string, offset: number): Promise<() => Promise<void>> {
  const fh = await fs.open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    const original = b[0];
    b[0] = original ^ 0xff;
    await fh.write(b, 0, 1, offset);
    return async () => {
      const h = await fs.open(path, 'r+');
      try {
        await h.write(Buffer.from([original]), 0, 1, offset);
      } finally {
        await h.close();
      }
    };
  } finally {
    await fh.close();
  }
}

export interface RepoEvent {
  kind: 'pack' | 'pack-temp' | 'index' | 'snapshot' | 'lock';
  name: string;
}

/**
 * Calls `onEvent` as objects appear in the repository (inotify on every type folder and the
 * 256 pack folders). A temp file being written in data/ is reported as 'pack-temp'; a finished
 * object once it exists under its own name. Returns a function that stops watching.
 */
export function watchRepo(repo: string, onEvent: (e: RepoEvent) => void): () => void {
  const watchers: FSWatcher[] = [];
  const seen = new Set<string>();
  const on = (kind: RepoEvent['kind'], dir: string) => {
    const w = watch(dir, (_type, filename) => {
      if (!filename) return;
      const name = filename.toString();
      const temp = isTempName(name);
      if (temp && kind !== 'pack') return;
      const k = temp ? 'pack-temp' : kind;
      const key = `${k}/${name}`;
      if (seen.has(key)) return;
      if (!temp && !existsSync(nodePath.join(dir, name))) return; // a removal, or a temp file's rename away
      seen.add(key);
      onEvent({ kind: k, name });
    });
    w.on('error', () => {});
    watchers.push(w);
  };
  on('index', nodePath.join(repo, 'index'));
  on('snapshot', nodePath.join(repo, 'snapshots'));
  on('lock', nodePath.join(repo, 'locks'));
  for (let i = 0; i < 256; i++) on('pack', nodePath.join(repo, 'data', i.toString(16).padStart(2, '0')));
  return () => {
    for (const w of watchers) w.close();
  };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output and resolves when it has ended (and been reaped). */
export function collect(child: ChildProcess): Promise<Exit> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves when `predicate` holds, polling every few ms; rejects after `timeoutMs`. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** A stack trace line as node prints them ("    at fn (file:line:col)"). */
export const STACK_LINE = /^\s+at .*:\d+:\d+\)?$/m;

/**
 * Prints a line for the person reading the test output. On stderr: under `node --test`, a test
 * file's stdout carries the runner's serialized messages, and console.log output interleaved
 * with them can make the runner fail to parse them (nodejs/node#64061).
 */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

/**
 * Sends `signal` to `child` from inside the watcher callback (so as soon as possible) when an
 * object matching `match` appears in `repo`. Resolves true once sent, false when the child
 * ended first. Call it right after spawning, before the child can write anything.
 */
export function signalWhen(
  repo: string,
  child: ChildProcess,
  done: Promise<unknown>,
  match: (e: RepoEvent) => boolean,
  signal: NodeJS.Signals,
): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (sent: boolean) => {
      if (settled) return;
      settled = true;
      stop();
      resolve(sent);
    };
    const stop = watchRepo(repo, (e) => {
      if (!settled && match(e)) {
        child.kill(signal);
        finish(true);
      }
    });
    done.then(
      () => finish(false),
      () => finish(false),
    );
  });
}
