/**
 * @module sources/redis/redis-connection
 * A minimal Redis client over a TCP or TLS socket, enough for backup (the replication
 * handshake) and restore (pipelined RESTORE): RESP2 commands and replies, AUTH with a
 * password or an ACL user, and raw access to the byte stream after PSYNC.
 */
import { readFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { describe, LifeboatError } from '../../errors.js';
import { ByteReader, TruncatedError } from '../byte-reader.js';
import { encodeCommand } from './resp-writer.js';

/** TLS settings of a redis source (paths to PEM files, or PEM text). */
export interface RedisTlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  reject_unauthorized?: boolean;
}

export interface RedisEndpoint {
  host: string;
  port: number;
  tls: boolean;
  tlsConfig?: RedisTlsConfig;
  username?: string;
  password?: string;
  /** "host:port", for messages (never credentials). */
  display: string;
}

/** Parses redis://[user:pass@]host:port or rediss://...; the path (a db number) is ignored. */
export function parseRedisUrl(url: string, tlsConfig?: RedisTlsConfig): RedisEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new LifeboatError(
      'config_invalid',
      '[source:redis] the URL is not valid (expected redis://[user:password@]host:port)',
    );
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new LifeboatError(
      'config_invalid',
      `[source:redis] unsupported URL scheme "${u.protocol}" (use redis:// or rediss:// for TLS)`,
    );
  }
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = u.port ? Number(u.port) : 6379;
  const ep: RedisEndpoint = {
    host,
    port,
    tls: u.protocol === 'rediss:',
    display: `${host.includes(':') ? `[${host}]` : host}:${port}`,
  };
  if (ep.tls && tlsConfig) ep.tlsConfig = tlsConfig;
  if (u.username) ep.username = decodeURIComponent(u.username);
  if (u.password) ep.password = decodeURIComponent(u.password);
  return ep;
}

/** An error reply from the server. */
export class RespError {
  constructor(readonly message: string) {}
  /** The error code: the first word (ERR, NOPERM, BUSYKEY, ...). */
  get code(): string {
    return this.message.split(' ', 1)[0];
  }
}

export type Reply = string | number | Buffer | null | RespError | Reply[];

export function isRespError(r: Reply): r is RespError {
  return r instanceof RespError;
}

async function pem(value: string | undefined): Promise<string | undefined> {
  if (value === undefined) return undefined;
  if (value.includes('-----BEGIN')) return value;
  return readFile(value, 'utf8');
}

export class RedisConnection {
  readonly reader: ByteReader;
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    readonly endpoint: RedisEndpoint,
  ) {
    socket.on('error', (err) => {
      this.failure ??= err;
    });
    socket.on('close', () => {
      this.closed = true;
    });
    this.reader = new ByteReader(socket as AsyncIterable<Buffer>);
  }

  /**
   * Connects and authenticates; errors name the server and what to check. Aborting `signal`
   * gives up a connection attempt with the signal's reason.
   */
  static async open(
    ep: RedisEndpoint,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<RedisConnection> {
    const timeoutMs = options.timeoutMs ?? 15_000;
    const { signal } = options;
    let socket: Socket;
    try {
      socket = await new Promise<Socket>((resolve, reject) => {
        const s = ep.tls ? tlsSocket(ep) : Promise.resolve(netConnect({ host: ep.host, port: ep.port }));
        s.then((sock) => {
          const onAbort = () => {
            clearTimeout(timer);
            sock.destroy();
            reject(signal?.reason);
          };
          const timer = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            sock.destroy();
            reject(new Error(`no connection within ${timeoutMs / 1000}s`));
          }, timeoutMs);
          if (signal?.aborted) return onAbort();
          signal?.addEventListener('abort', onAbort, { once: true });
          sock.once(ep.tls ? 'secureConnect' : 'connect', () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            sock.removeListener('error', reject);
            resolve(sock);
          });
          sock.once('error', (err) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            reject(err);
          });
        }, reject);
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new LifeboatError(
        'source_unreadable',
        `[source:redis] cannot connect to ${ep.display}${ep.tls ? ' (TLS)' : ''}: ${describe(err)} (check the URL, that the server runs${ep.tls ? ', and the tls settings' : ''})`,
        { cause: err, retryable: true },
      );
    }
    socket.setNoDelay(true);
    const conn = new RedisConnection(socket, ep);
    if (ep.password !== undefined) {
      const args = ep.username ? ['AUTH', ep.username, ep.password] : ['AUTH', ep.password];
      const reply = await conn.call(args);
      if (isRespError(reply)) {
        conn.destroy();
        throw new LifeboatError(
          'source_unreadable',
          `[source:redis] ${ep.display} refused the credentials${ep.username ? ` of user "${ep.username}"` : ''}: ${reply.message} (check the user and password in the URL)`,
        );
      }
    }
    return conn;
  }

  /** A connection a server opened to us (a replica syncing from lifeboat): same reader and writer. */
  static accept(socket: Socket, ep: RedisEndpoint): RedisConnection {
    socket.setNoDelay(true);
    return new RedisConnection(socket, ep);
  }

  /** This side's address of the connection: where the server can reach us. */
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  /** The server's address as this connection sees it. */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** Sends one command and reads its reply (error replies are returned, not thrown). */
  async call(args: (string | Uint8Array)[]): Promise<Reply> {
    await this.write([encodeCommand(args)]);
    return this.readReply();
  }

  /** Like call, but an error reply throws a LifeboatError naming the command. */
  async callOk(args: (string | Uint8Array)[], hint = ''): Promise<Reply> {
    const reply = await this.call(args);
    if (isRespError(reply)) {
      throw new LifeboatError(
        'source_failed',
        `[source:redis] ${this.endpoint.display} answered ${String(args[0])} with an error: ${reply.message}${hint ? ` (${hint})` : ''}`,
      );
    }
    return reply;
  }

  /** Writes buffers, waiting while the socket's buffer is full. */
  async write(parts: Buffer[]): Promise<void> {
    for (const part of parts) {
      if (this.failure) throw this.failure;
      if (this.closed || this.socket.destroyed) throw new Error('connection closed');
      if (!this.socket.write(part)) await this.drain();
    }
  }

  private drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        this.socket.off('error', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = (err?: unknown) => done(err instanceof Error ? err : new Error('connection closed'));
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
      this.socket.on('error', onClose);
    });
  }

  /** Reads one RESP2 reply. */
  async readReply(): Promise<Reply> {
    try {
      return await this.reply();
    } catch (err) {
      if (err instanceof TruncatedError) throw this.failure ?? new Error('connection closed by the server');
      throw err;
    }
  }

  private async reply(): Promise<Reply> {
    const line = await this.readLine();
    const kind = line[0];
    const rest = line.toString('latin1', 1);
    switch (kind) {
      case 0x2b: // +
        return rest;
      case 0x2d: // -
        return new RespError(line.toString('utf8', 1));
      case 0x3a: // :
        return Number(rest);
      case 0x24: {
        // $
        const n = Number(rest);
        if (n < 0) return null;
        const r = this.reader;
        if (!r.has(n + 2)) await r.fill(n + 2);
        const out = Buffer.from(r.take(n));
        r.take(2);
        return out;
      }
      case 0x2a: {
        // *
        const n = Number(rest);
        if (n < 0) return null;
        const out: Reply[] = [];
        for (let i = 0; i < n; i++) out.push(await this.reply());
        return out;
      }
      default:
        throw new Error(
          `unexpected reply from the server: ${JSON.stringify(line.toString('latin1').slice(0, 60))}`,
        );
    }
  }

  /** A line up to "\n", without the line end. */
  async readLine(): Promise<Buffer> {
    const r = this.reader;
    for (;;) {
      const i = r.indexOf(0x0a);
      if (i >= 0) {
        const b = r.take(i + 1);
        return b.subarray(0, i > 0 && b[i - 1] === 0x0d ? i - 1 : i);
      }
      await r.fill(r.available + 1);
    }
  }

  /** Closes politely (the server sees QUIT); never throws. */
  async close(): Promise<void> {
    if (this.closed || this.socket.destroyed) return;
    this.socket.end();
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The socket has closed (either side), or failed. */
  get isClosed(): boolean {
    return this.closed || this.socket.destroyed || this.failure !== undefined;
  }

  get failed(): Error | undefined {
    return this.failure;
  }
}

async function tlsSocket(ep: RedisEndpoint): Promise<Socket> {
  const t = ep.tlsConfig ?? {};
  const opts: ConnectionOptions = {
    host: ep.host,
    port: ep.port,
    servername: t.servername ?? (/^[\d.:]+$/.test(ep.host) ? undefined : ep.host),
    rejectUnauthorized: t.reject_unauthorized ?? true,
  };
  try {
    opts.ca = await pem(t.ca);
    opts.cert = await pem(t.cert);
    opts.key = await pem(t.key);
  } catch (err) {
    throw new Error(`cannot read a TLS file: ${describe(err)}`);
  }
  return tlsConnect(opts);
}

/** "db0:keys=3,expires=1,avg_ttl=0" lines of INFO keyspace, as keys per database. */
export function parseKeyspace(info: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^db(\d+):keys=(\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}
