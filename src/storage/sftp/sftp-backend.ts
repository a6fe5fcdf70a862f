/**
 * @module storage/sftp/sftp-backend
 * A repository on a server reached over SSH (`sftp://user@host[:port]/path`; a path starting
 * `/~/` is relative to the login folder). Authentication: a key file from the settings, the
 * agent at SSH_AUTH_SOCK, ~/.ssh/id_ed25519, id_ecdsa or id_rsa, or a password from the
 * settings. The server's host key must be pinned (`host_key`) or in known_hosts; an unknown
 * key is refused with its fingerprint, never accepted silently.
 *
 * Saves write a temp file beside the target, fsync it (fsync@openssh.com, when offered),
 * and rename it over the target with posix-rename@openssh.com, which replaces atomically.
 * A server without that extension gets remove-then-rename, which is atomic for new names
 * (every name but locks is new). Transfers pipeline many requests over one channel.
 * Folders are made 0700 and files end 0400, as the local backend's: the repository is private.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ConnectConfig, SFTPWrapper, Stats } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { describe, errnoCode, LifeboatError } from '../../errors.js';
import type { Backend, BackendCapabilities, FileHandle, FileInfo, FileType } from '../backend.js';
import { rangeStart, tooShort } from '../byte-range.js';
import { checkName, objectName, relativeKey, TYPE_DIRS } from '../layout.js';
import { redactUrl } from '../redact-url.js';
import type { TransportTimeouts } from '../storage-options.js';
import { storageError } from '../transient-errors.js';
import { verifyHostKey } from './known-hosts.js';
import type { SftpSettings } from './sftp-settings.js';

const CAPABILITIES: BackendCapabilities = { atomicReplace: true, rangedReads: true, freeSpace: false };
const CHUNK = 64 * 1024;
const DEFAULT_CONCURRENCY = 32;
const TEMP_PREFIX = '.tmp-';
/** Modes of what the backend creates (the server may apply its umask to folders). */
const SFTP_MODES = { dir: 0o700, file: 0o400, temp: 0o600 } as const;
/** SFTP status codes (draft-ietf-secsh-filexfer-02). */
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;

export interface SftpBackendOptions {
  settings?: SftpSettings;
  env?: NodeJS.ProcessEnv;
  /** Handshake and idle limits; the retry wrapper times whole requests. */
  timeouts?: TransportTimeouts;
}

export interface SftpTarget {
  user: string;
  host: string;
  port: number;
  /** Absolute, or relative to the login folder. */
  path: string;
}

/** Parses `sftp://user@host[:port]/path`; a password in the URL is refused. */
export function parseSftpUrl(url: string, env: NodeJS.ProcessEnv = process.env): SftpTarget {
  const bad = (why: string) =>
    new LifeboatError(
      'usage',
      `[storage:sftp] invalid repository URL ${redactUrl(url)}: ${why} (use sftp://user@host[:port]/path)`,
    );
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('not a URL');
  }
  if (u.password)
    throw bad('a password in the URL is not supported; use repository.sftp.password, or better a key');
  if (!u.hostname) throw bad('no host');
  if (u.search || u.hash) throw bad('unexpected "?" or "#"');
  let path = decodeURIComponent(u.pathname);
  if (path.startsWith('/~/')) path = path.slice(3);
  else if (path === '/~') path = '.';
  path = path.replace(/\/+$/, '') || (path.startsWith('/') ? '/' : '.');
  if (path === '/') throw bad('no path (the repository needs its own folder)');
  const port = u.port ? Number(u.port) : 22;
  return {
    user: decodeURIComponent(u.username) || env.USER || env.LOGNAME || 'root',
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    path,
  };
}

type Operation = 'write' | 'read' | 'stat' | 'remove' | 'list' | 'create' | 'connect';

function p<T>(fn: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));
}

function sftpCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown } | undefined)?.code;
  return typeof c === 'number' ? c : undefined;
}

function isMissing(err: unknown): boolean {
  return sftpCode(err) === NO_SUCH_FILE || errnoCode(err) === 'ENOENT';
}

export class SftpBackend implements Backend {
  readonly location: string;
  readonly capabilities = CAPABILITIES;
  private readonly target: SftpTarget;
  private readonly settings: SftpSettings;
  private readonly env: NodeJS.ProcessEnv;
  private connecting: Promise<{ client: SftpClient; sftp: SFTPWrapper }> | undefined;
  /** Why the last connection attempt was refused for good (host key): no point retrying. */
  private refused: LifeboatError | undefined;

  constructor(
    url: string,
    private readonly options: SftpBackendOptions = {},
  ) {
    this.env = options.env ?? process.env;
    this.target = parseSftpUrl(url, this.env);
    this.settings = options.settings ?? {};
    const t = this.target;
    const hostPort =
      t.port === 22
        ? t.host.includes(':')
          ? `[${t.host}]`
          : t.host
        : `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
    this.location = `sftp://${t.user}@${hostPort}${t.path.startsWith('/') ? '' : '/~/'}${t.path}`;
  }

  private path(h: FileHandle): string {
    checkName(h, 'storage:sftp');
    return `${this.target.path}/${relativeKey(h)}`;
  }

  // ---- connection ----------------------------------------------------------------------

  private async sftp(): Promise<SFTPWrapper> {
    if (this.refused) throw this.refused;
    this.connecting ??= this.connect().catch((err) => {
      this.connecting = undefined;
      throw err;
    });
    return (await this.connecting).sftp;
  }

  private async connect(): Promise<{ client: SftpClient; sftp: SFTPWrapper }> {
    const drop = () => {
      this.connecting = undefined;
    };
    const client = new SftpClient('lifeboat', { error: drop, end: drop, close: drop });
    const config = await this.connectConfig();
    let verdict: ReturnType<typeof verifyHostKey> | undefined;
    const knownHosts = await this.readKnownHosts();
    config.hostVerifier = (key: Buffer) => {
      verdict = verifyHostKey(key, this.target.host, this.target.port, this.settings.host_key, knownHosts);
      return verdict.ok;
    };
    try {
      const sftp = await client.connect(config);
      return { client, sftp };
    } catch (err) {
      await client.end().catch(() => {});
      if (verdict && !verdict.ok) {
        this.refused = this.hostKeyError(verdict);
        throw this.refused;
      }
      throw this.error(err, 'connect', 'the server');
    }
  }

  private hostKeyError(v: Extract<ReturnType<typeof verifyHostKey>, { ok: false }>): LifeboatError {
    const who = `${this.target.host}:${this.target.port}`;
    const file = this.settings.known_hosts ?? join(this.home(), '.ssh', 'known_hosts');
    const messages = {
      unknown: `host key ${v.fingerprint} of ${who} is unknown: check it out of band (ssh-keygen -lf on the server's key), then add the host to ${file} (ssh-keyscan) or set repository.sftp.host_key: ${v.fingerprint}`,
      mismatch: `HOST KEY CHANGED: ${who} offered ${v.fingerprint}, which does not match ${file}; someone may be intercepting the connection (if the server's key really changed, update ${file})`,
      revoked: `host key ${v.fingerprint} of ${who} is marked @revoked in ${file}`,
      pin_mismatch: `host key of ${who} is ${v.fingerprint}, not the one pinned in repository.sftp.host_key; someone may be intercepting the connection (if the server's key really changed, update host_key)`,
    };
    return new LifeboatError(
      'storage_failed',
      `[storage:sftp] refusing to connect to ${this.location}: ${messages[v.reason]}`,
    );
  }

  private home(): string {
    return this.env.HOME || homedir();
  }

  private async readKnownHosts(): Promise<string | undefined> {
    if (this.settings.host_key) return undefined;
    const file = this.settings.known_hosts ?? join(this.home(), '.ssh', 'known_hosts');
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw new LifeboatError(
        'usage',
        `[storage:sftp] cannot read known_hosts file ${file}: ${describe(err)}`,
      );
    }
  }

  private async connectConfig(): Promise<ConnectConfig> {
    const t = this.target;
    const config: ConnectConfig = {
      host: t.host,
      port: t.port,
      username: t.user,
      // TCP and the SSH handshake; ssh2's own default is 20 s.
      readyTimeout: this.options.timeouts?.connectMs || 20_000,
      // A server that stops answering is dropped after about the idle limit (3 unanswered pings).
      keepaliveInterval: Math.max(1000, Math.ceil((this.options.timeouts?.idleMs || 60_000) / 3)),
      keepaliveCountMax: 3,
    };
    const s = this.settings;
    if (s.password) config.password = s.password;
    if (s.key_file) {
      try {
        config.privateKey = await readFile(s.key_file);
      } catch (err) {
        throw new LifeboatError(
          'usage',
          `[storage:sftp] cannot read the key file ${s.key_file} (repository.sftp.key_file): ${describe(err)}`,
        );
      }
      if (s.key_passphrase) config.passphrase = s.key_passphrase;
    } else {
      if (this.env.SSH_AUTH_SOCK) config.agent = this.env.SSH_AUTH_SOCK;
      for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
        try {
          config.privateKey = await readFile(join(this.home(), '.ssh', name));
          if (s.key_passphrase) config.passphrase = s.key_passphrase;
          break;
        } catch {
          // next
        }
      }
    }
    if (!config.password && !config.privateKey && !config.agent) {
      throw new LifeboatError(
        'usage',
        `[storage:sftp] no way to log in to ${this.location}: set repository.sftp.key_file, start an ssh-agent (SSH_AUTH_SOCK), put a key in ~/.ssh, or set repository.sftp.password`,
      );
    }
    return config;
  }

  // ---- operations ----------------------------------------------------------------------

  async create(): Promise<void> {
    const sftp = await this.sftp();
    const root = this.target.path;
    try {
      await p<Stats>((cb) => sftp.stat(`${root}/config`, cb));
      throw new LifeboatError(
        'repo_exists',
        `[storage:sftp] a repository already exists at ${this.location} (use it, or choose an empty folder)`,
      );
    } catch (err) {
      if (err instanceof LifeboatError) throw err;
      if (!isMissing(err)) throw this.error(err, 'create', 'config');
    }
    try {
      await this.mkdirs(sftp, root);
      for (const dir of Object.values(TYPE_DIRS)) await this.mkdirs(sftp, `${root}/${dir}`);
      const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
      await mapLimit(hex, 16, (h) => this.mkdir(sftp, `${root}/data/${h}`));
    } catch (err) {
      throw this.error(err, 'create', 'repository folders');
    }
  }

  private async mkdir(sftp: SFTPWrapper, dir: string): Promise<void> {
    try {
      await p<void>((cb) => sftp.mkdir(dir, { mode: SFTP_MODES.dir }, cb));
    } catch (err) {
      const st = await p<Stats>((cb) => sftp.stat(dir, cb)).catch(() => undefined);
      if (!st?.isDirectory()) throw err;
    }
  }

  private async mkdirs(sftp: SFTPWrapper, dir: string): Promise<void> {
    const parts = dir.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join('/');
      if (sub === '' || sub === '.') continue;
      await this.mkdir(sftp, sub);
    }
  }

  async save(h: FileHandle, data: Buffer): Promise<void> {
    const target = this.path(h);
    const dir = target.slice(0, target.lastIndexOf('/'));
    const temp = `${dir}/${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
    const sftp = await this.sftp();
    let handle: Buffer | undefined;
    try {
      try {
        handle = await p<Buffer>((cb) => sftp.open(temp, 'w', { mode: SFTP_MODES.temp }, cb));
      } catch (err) {
        if (!isMissing(err) || dir === this.target.path) throw err;
        // A type folder removed by hand: recreate it, but never the root (no repository there).
        await p<Stats>((cb) => sftp.stat(this.target.path, cb));
        await this.mkdirs(sftp, dir);
        handle = await p<Buffer>((cb) => sftp.open(temp, 'w', { mode: SFTP_MODES.temp }, cb));
      }
      const h2 = handle;
      const offsets = Array.from({ length: Math.ceil(data.length / CHUNK) }, (_, i) => i * CHUNK);
      await mapLimit(offsets, this.settings.concurrency ?? DEFAULT_CONCURRENCY, (off) =>
        p<void>((cb) => sftp.write(h2, data, off, Math.min(CHUNK, data.length - off), off, cb)),
      );
      // Read-only before it is renamed into place, as the local backend does.
      await p<void>((cb) => sftp.fchmod(h2, SFTP_MODES.file, cb));
      try {
        await p<void>((cb) => sftp.ext_openssh_fsync(h2, cb));
      } catch (err) {
        if (!/not support/i.test(describe(err))) throw err;
      }
      handle = undefined;
      await p<void>((cb) => sftp.close(h2, cb));
      await this.rename(sftp, temp, target);
    } catch (err) {
      if (handle) {
        const h3 = handle;
        await p<void>((cb) => sftp.close(h3, cb)).catch(() => {});
      }
      await p<void>((cb) => sftp.unlink(temp, cb)).catch(() => {});
      if (err instanceof LifeboatError) throw err;
      throw this.error(err, 'write', objectName(h));
    }
  }

  private async rename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
    try {
      await p<void>((cb) => sftp.ext_openssh_rename(from, to, cb));
      return;
    } catch (err) {
      if (!/not support/i.test(describe(err))) throw err;
    }
    await p<void>((cb) => sftp.unlink(to, cb)).catch(() => {});
    await p<void>((cb) => sftp.rename(from, to, cb));
  }

  async load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    const file = this.path(h);
    const start = rangeStart('storage:sftp', h, offset, length);
    const sftp = await this.sftp();
    let handle: Buffer;
    try {
      handle = await p<Buffer>((cb) => sftp.open(file, 'r', cb));
    } catch (err) {
      throw this.error(err, 'read', objectName(h));
    }
    try {
      const size = (await p<Stats>((cb) => sftp.fstat(handle, cb))).size;
      const want = length ?? size - start;
      if (start + want > size || want < 0) throw this.short(h, start, want, size);
      const buf = Buffer.allocUnsafe(want);
      const offsets = Array.from({ length: Math.ceil(want / CHUNK) }, (_, i) => i * CHUNK);
      await mapLimit(offsets, this.settings.concurrency ?? DEFAULT_CONCURRENCY, async (rel) => {
        let got = 0;
        const n = Math.min(CHUNK, want - rel);
        while (got < n) {
          const r = await p<number>((cb) =>
            sftp.read(handle, buf, rel + got, n - got, start + rel + got, cb),
          );
          if (!r) throw this.short(h, start, want, start + rel + got);
          got += r;
        }
      });
      return buf;
    } catch (err) {
      if (err instanceof LifeboatError) throw err;
      throw this.error(err, 'read', objectName(h));
    } finally {
      await p<void>((cb) => sftp.close(handle, cb)).catch(() => {});
    }
  }

  private short(h: FileHandle, offset: number, length: number, size: number): LifeboatError {
    return tooShort('storage:sftp', h, this.location, offset, length, size);
  }

  async stat(h: FileHandle): Promise<FileInfo> {
    const sftp = await this.sftp();
    try {
      const st = await p<Stats>((cb) => sftp.stat(this.path(h), cb));
      return { name: h.type === 'config' ? 'config' : h.name, size: st.size };
    } catch (err) {
      throw this.error(err, 'stat', objectName(h));
    }
  }

  async remove(h: FileHandle): Promise<void> {
    const sftp = await this.sftp();
    try {
      await p<void>((cb) => sftp.unlink(this.path(h), cb));
    } catch (err) {
      if (isMissing(err)) return;
      throw this.error(err, 'remove', objectName(h));
    }
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    const sftp = await this.sftp();
    if (type === 'config') {
      try {
        yield await this.stat({ type: 'config', name: 'config' });
      } catch (err) {
        if ((err as { code?: string }).code !== 'not_found') throw err;
      }
      return;
    }
    const top = `${this.target.path}/${TYPE_DIRS[type]}`;
    const read = async (dir: string) => {
      try {
        return await p<{ filename: string; attrs: Stats }[]>((cb) => sftp.readdir(dir, cb));
      } catch (err) {
        if (isMissing(err)) return [];
        throw this.error(err, 'list', `${type} objects`);
      }
    };
    const entries = await read(top);
    if (type !== 'pack') {
      for (const e of entries) {
        if (!e.filename.startsWith('.') && e.attrs.isFile()) yield listed(e);
      }
      return;
    }
    const dirs = entries.filter((e) => e.attrs.isDirectory() && e.filename.length === 2);
    const lists = await mapLimit(dirs, 8, (d) => read(`${top}/${d.filename}`));
    for (const list of lists) {
      for (const e of list) {
        if (!e.filename.startsWith('.') && e.attrs.isFile()) yield listed(e);
      }
    }
  }

  async close(): Promise<void> {
    const c = this.connecting;
    this.connecting = undefined;
    if (!c) return;
    const conn = await c.catch(() => undefined);
    await conn?.client.end().catch(() => {});
  }

  private error(err: unknown, op: Operation, what: string): LifeboatError {
    if (err instanceof LifeboatError) return err;
    const verb =
      op === 'create'
        ? `unable to create a repository (${what})`
        : op === 'connect'
          ? 'unable to connect'
          : `unable to ${op} ${what}`;
    const where = `[storage:sftp] ${verb} at ${this.location}`;
    const code = sftpCode(err);
    if (isMissing(err) && op !== 'create' && op !== 'connect') {
      return new LifeboatError('not_found', `[storage:sftp] ${what} not found at ${this.location}`, {
        cause: err,
      });
    }
    if (code === PERMISSION_DENIED) {
      return new LifeboatError(
        'storage_failed',
        `${where}: permission denied (check that ${this.target.user} may write to ${this.target.path})`,
        { cause: err },
      );
    }
    const message = describe(err).split('\n')[0];
    if (/All configured authentication methods failed|authentication/i.test(message)) {
      return new LifeboatError(
        'storage_failed',
        `${where}: the server refused every login method tried for ${this.target.user} (check the key, the agent, or the password in repository.sftp)`,
        { cause: err },
      );
    }
    // Anything that is not an SFTP status is the connection: it is dropped and retried fresh.
    const connectionLost = code === undefined || code === 6 || code === 7;
    if (connectionLost) this.connecting = undefined;
    return storageError(
      'storage_failed',
      `${where}: ${message} (check the server and the network; retrying may help)`,
      {
        cause: err,
        retryable: connectionLost,
      },
    );
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
  return out;
}

export function createSftpBackend(url: string, options: SftpBackendOptions = {}): Backend {
  return new SftpBackend(url, options);
}

/** A directory entry as list() gives it; SFTP times are whole seconds. */
function listed(e: { filename: string; attrs: Stats }): FileInfo {
  return { name: e.filename, size: e.attrs.size, modified: new Date(e.attrs.mtime * 1000) };
}
