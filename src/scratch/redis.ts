/**
 * @module scratch/redis
 * Throwaway redis-server instances, for restore drills and tests: a free loopback port, a
 * temporary folder as --dir, nothing saved (--save ''), optionally a password, an ACL user, or
 * TLS with a CA and certificate made by openssl on the spot. They never touch the machine's
 * own Redis.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isRespError,
  parseRedisUrl,
  RedisConnection,
  type RedisTlsConfig,
} from '../sources/redis/redis-connection.js';
import { freePort } from './free-port.js';

export interface RedisServerOptions {
  /** requirepass for the default user. */
  password?: string;
  /** An ACL user (besides the default one) and its rules; default rules: every command and key. */
  aclUser?: { name: string; password: string; rules?: string[] };
  /** Serve TLS only (the plain port is closed). */
  tls?: boolean;
  /** Extra redis-server arguments (["--databases", "32"]). */
  args?: string[];
  /** Start from this RDB file (copied into the server's folder as dump.rdb). */
  rdbFile?: string;
}

export interface RedisServer {
  /** redis:// (or rediss://) URL with the default user's password, if any. */
  url: string;
  /** URL for the ACL user, when one was made. */
  aclUrl?: string;
  host: string;
  port: number;
  dir: string;
  pid: number;
  /** The CA and client-side TLS settings, for tls servers. */
  tls?: RedisTlsConfig & { ca: string };
  /** A connection as the default user. */
  connect(): Promise<RedisConnection>;
  /** Stops the server and removes its folder; safe to call twice and after kill(). */
  stop(): Promise<void>;
  /** SIGKILL (a crash); the folder stays until stop(). */
  kill(): Promise<void>;
}

/** Null when redis-server can run here, else why not. */
export function redisUnavailable(): string | null {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'redis-server is not installed (apt-get install redis-server)';
  return null;
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-redis-'));
  const port = await freePort();
  const host = '127.0.0.1';
  const args = [
    '--bind',
    host,
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--dbfilename',
    'dump.rdb',
    '--logfile',
    join(dir, 'redis.log'),
    '--daemonize',
    'no',
    '--protected-mode',
    'no',
    '--repl-diskless-sync-delay',
    '0',
  ];
  let tls: RedisServer['tls'];
  if (options.tls) {
    tls = await makeCertificates(dir);
    args.push(
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--tls-cert-file',
      join(dir, 'server.crt'),
      '--tls-key-file',
      join(dir, 'server.key'),
      '--tls-ca-cert-file',
      tls.ca,
      '--tls-auth-clients',
      'optional',
    );
  } else {
    args.push('--port', String(port));
  }
  if (options.password !== undefined) args.push('--requirepass', options.password);
  if (options.aclUser) {
    const u = options.aclUser;
    args.push('--user', u.name, 'on', `>${u.password}`, ...(u.rules ?? ['~*', '&*', '+@all']));
  }
  if (options.rdbFile) {
    const { copyFile } = await import('node:fs/promises');
    await copyFile(options.rdbFile, join(dir, 'dump.rdb'));
  }
  args.push(...(options.args ?? []));
  const child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore' });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const scheme = options.tls ? 'rediss' : 'redis';
  const auth = options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : '';
  const url = `${scheme}://${auth}${host}:${port}`;
  const aclUrl = options.aclUser
    ? `${scheme}://${encodeURIComponent(options.aclUser.name)}:${encodeURIComponent(options.aclUser.password)}@${host}:${port}`
    : undefined;
  const connect = () => RedisConnection.open(parseRedisUrl(url, tls), { timeoutMs: 2000 });

  const stop = async () => {
    if (!exited && child.exitCode === null) {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), sleep(5000)]);
      if (child.exitCode === null && !exited) {
        child.kill('SIGKILL');
        await once(child, 'exit').catch(() => {});
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  const server: RedisServer = {
    url,
    aclUrl,
    host,
    port,
    dir,
    pid: child.pid ?? 0,
    tls,
    connect,
    stop,
    kill: async () => {
      if (exited || child.exitCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => {});
    },
  };
  // Ready when it answers PING (loading a large RDB answers LOADING first).
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const conn = await connect();
      try {
        const reply = await conn.call(['PING']);
        if (reply === 'PONG') return server;
        last = isRespError(reply) ? reply.message : String(reply);
      } finally {
        await conn.close();
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  const { readFile } = await import('node:fs/promises');
  const log = await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '');
  await stop();
  throw new Error(`redis-server did not start (${last}); its log ends:\n${log.slice(-2000)}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A throwaway CA and a server certificate for 127.0.0.1 and localhost. */
async function makeCertificates(dir: string): Promise<RedisTlsConfig & { ca: string }> {
  const run = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.error || r.status !== 0)
      throw new Error(`openssl ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=lifeboat test CA',
  ]);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  ]);
  return { ca: join(dir, 'ca.crt') };
}
