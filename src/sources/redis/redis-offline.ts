/**
 * @module sources/redis/redis-offline
 * Restore for a stopped server: the snapshot's RDB file is written where the server loads it
 * at startup (its `dir` and `dbfilename`), through a temporary file renamed into place once
 * the whole file has been read back and checked against the size and SHA-256 the snapshot
 * recorded. `--to` names the server's config file (dir, dbfilename, port, unixsocket and
 * appendonly are read from it), its data folder (dump.rdb), or the RDB file's path.
 * It refuses while a server runs on that folder or port, and an existing file without
 * --overwrite.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, readFile, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import { connect, type NetConnectOpts } from 'node:net';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { describe, LifeboatError } from '../../errors.js';

/** Where a stopped server keeps its data, as its config says. */
export interface OfflineTarget {
  dir: string;
  dbfilename: string;
  /** The config file it came from, when --to named one. */
  config?: string;
  port?: number;
  unixsocket?: string;
  /** appendonly yes: the server loads its AOF at startup, not the RDB file. */
  appendonly: boolean;
  appenddirname: string;
}

/** `--to` for a Redis source: a URL is a running server, anything else a stopped one. */
export function isOfflineTarget(to: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(to);
}

/** The directives of a redis.conf that matter here (the last one wins, as in Redis). */
export function parseRedisConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2].trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    out.set(m[1].toLowerCase(), value);
  }
  return out;
}

export async function resolveOfflineTarget(to: string): Promise<OfflineTarget> {
  const path = resolve(to);
  const info = await stat(path).catch(() => undefined);
  const base = { appendonly: false, appenddirname: 'appendonlydir' };
  if (info?.isDirectory()) return { ...base, dir: path, dbfilename: 'dump.rdb' };
  if (path.endsWith('.rdb')) {
    const parent = await stat(dirname(path)).catch(() => undefined);
    if (!parent?.isDirectory()) {
      throw new LifeboatError(
        'not_found',
        `[source:redis] folder ${dirname(path)} does not exist (create it first)`,
      );
    }
    return { ...base, dir: dirname(path), dbfilename: basename(path) };
  }
  if (!info?.isFile()) {
    throw new LifeboatError(
      'usage',
      `[source:redis] --to ${path} is neither a Redis URL nor an existing redis.conf or data folder (redis://host:port for a running server; the config file, the data folder or the .rdb path for a stopped one)`,
    );
  }
  const config = parseRedisConfig(await readFile(path, 'utf8'));
  // A relative dir is relative to where the server starts; the config's folder is the usual guess.
  const dirValue = config.get('dir') ?? '.';
  const dir = isAbsolute(dirValue) ? dirValue : resolve(dirname(path), dirValue);
  const port = config.has('port') ? Number(config.get('port')) : 6379;
  return {
    dir,
    dbfilename: config.get('dbfilename') ?? 'dump.rdb',
    config: path,
    port: port > 0 ? port : undefined,
    unixsocket: config.get('unixsocket'),
    appendonly: (config.get('appendonly') ?? 'no').toLowerCase() === 'yes',
    appenddirname: config.get('appenddirname') ?? 'appendonlydir',
  };
}

/** Whether something accepts connections at a TCP port on this host, or a Unix socket. */
function answers(options: NetConnectOpts): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const socket = connect(options);
    const done = (up: boolean) => {
      socket.destroy();
      resolveAnswer(up);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Pids of redis-server processes whose working folder (their `dir`) is `dir`. */
async function serversIn(dir: string): Promise<number[]> {
  const real = await realpath(dir);
  const found: number[] = [];
  const entries = await readdir('/proc').catch(() => [] as string[]);
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const comm = await readFile(`/proc/${name}/comm`, 'utf8').catch(() => '');
    if (!comm.startsWith('redis-server')) continue;
    const cwd = await readlink(`/proc/${name}/cwd`).catch(() => undefined);
    if (cwd === real) found.push(Number(name));
  }
  return found;
}

/** Refuses while a server runs on the target's folder, port or socket. */
export async function assertStopped(target: OfflineTarget): Promise<void> {
  const running: string[] = [];
  const pids = await serversIn(target.dir);
  if (pids.length > 0) running.push(`redis-server (pid ${pids.join(', ')}) runs in ${target.dir}`);
  if (target.port !== undefined && (await answers({ port: target.port, host: '127.0.0.1' }))) {
    running.push(`a server answers on port ${target.port}`);
  }
  if (target.unixsocket && (await answers({ path: target.unixsocket }))) {
    running.push(`a server answers on ${target.unixsocket}`);
  }
  if (running.length > 0) {
    throw new LifeboatError(
      'target_not_empty',
      `[source:redis] ${running.join('; ')}: stop it before an offline restore (it would overwrite the file on shutdown), or restore into it with --to redis://host:port`,
    );
  }
}

/**
 * Writes the RDB stream to the target's file: a temporary file in the same folder, synced,
 * renamed over the file once the stream has ended without error, then the folder synced.
 */
export async function writeOfflineRdb(
  target: OfflineTarget,
  rdb: AsyncIterable<Buffer>,
  overwrite: boolean,
): Promise<string> {
  const file = join(target.dir, target.dbfilename);
  if (!overwrite && (await stat(file).catch(() => undefined))) {
    throw new LifeboatError(
      'target_not_empty',
      `[source:redis] ${file} exists (pass --overwrite to replace it)`,
    );
  }
  const temp = join(target.dir, `.${target.dbfilename}.lifeboat-${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o660);
    try {
      // Run as root, the file goes to the folder's owner (the server's user), who must read it.
      if (process.getuid?.() === 0) {
        const owner = await stat(target.dir);
        await handle.chown(owner.uid, owner.gid);
      }
      for await (const chunk of rdb) await handle.write(chunk);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    if (err instanceof LifeboatError) throw err;
    throw new LifeboatError(
      'output_failed',
      `[source:redis] writing ${file} failed: ${describe(err)} (check the folder's permissions and free space)`,
      { cause: err },
    );
  }
  const folder = await open(target.dir, constants.O_RDONLY).catch(() => undefined);
  await folder?.sync().catch(() => {});
  await folder?.close();
  return file;
}

/** What the user must do when the server loads its AOF, not the RDB file, at startup. */
export function appendOnlyNote(target: OfflineTarget): string | undefined {
  if (!target.appendonly) return undefined;
  return `${target.config} has appendonly yes: at startup the server loads ${join(target.dir, target.appenddirname)} (or appendonly.aof), not ${target.dbfilename}. Start it once with appendonly off (redis-server ${target.config} --appendonly no), then run redis-cli CONFIG SET appendonly yes: it writes the AOF from the restored data`;
}
