/**
 * @module testing/servers/s3rver
 * A throwaway S3 server (the s3rver package) in a child process on a free loopback port,
 * with its objects in a temp folder. A child, not in-process, so benchmarks do not share an
 * event loop with it and tests can kill it to simulate an outage, then start it again on
 * the same port and folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { killChild } from './child-process.js';
import { freePort } from './free-port.js';

/** s3rver's built-in account. */
export const S3RVER_CREDENTIALS = { access_key_id: 'S3RVER', secret_access_key: 'S3RVER' };

export interface S3rverServer {
  endpoint: string;
  port: number;
  directory: string;
  /** Environment for a child `lifeboat` using this server (endpoint, credentials, path style). */
  env: Record<string, string>;
  /** Kills the server; the folder stays, so start() brings the same objects back. */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
  /** Stops it and removes the folder. */
  close(): Promise<void>;
}

/** Why s3rver cannot run here, or undefined when it can. */
export function s3rverMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('s3rver');
    return undefined;
  } catch {
    return 's3rver is not installed (npm install -D s3rver)';
  }
}

function launch(port: number, directory: string): Promise<ChildProcess> {
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('s3rver')).href;
  const code = `
    const { default: S3rver } = await import(${JSON.stringify(entry)});
    const server = new S3rver({ port: ${port}, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(directory)}, vhostBuckets: false });
    await server.run();
    process.stdout.write('ready\\n');
    process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
  `;
  // s3rver makes its listing continuation tokens with DES, which OpenSSL 3 only has in its
  // legacy provider: without it every truncated listing answers 500.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`s3rver did not start within 20s: ${err}`));
    }, 20_000);
    child.stderr?.setEncoding('utf8').on('data', (d) => {
      err += d;
    });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code} before it was ready: ${err}`));
    });
  });
}

export async function startS3rver(): Promise<S3rverServer> {
  const directory = await mkdtemp(join(tmpdir(), 'lifeboat-s3rver-'));
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port, directory);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    directory,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.access_key_id,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secret_access_key,
      AWS_REGION: 'us-east-1',
      LIFEBOAT_S3_PATH_STYLE: '1',
    },
    async stop() {
      await killChild(child);
      child = undefined;
    },
    async start() {
      if (!child) child = await launch(port, directory);
    },
    async close() {
      await killChild(child);
      child = undefined;
      await rm(directory, { recursive: true, force: true });
    },
  };
}
