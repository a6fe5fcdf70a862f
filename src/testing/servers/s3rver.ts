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

/**
 * S3 stores an object whole or not at all: a PUT whose body is cut short (its client killed)
 * stores nothing. s3rver writes the body straight to the object's file, so a killed upload
 * left a short object that a listing then showed. In the child, before the server starts:
 * bodies go to a temp file (which listings skip) renamed into place once the whole request
 * has arrived.
 */
function atomicPut(entry: string): string {
  return `
    const { createRequire } = await import('node:module');
    const requireHere = createRequire(${JSON.stringify(entry)});
    const Store = requireHere('./stores/filesystem.js');
    const { createHash, randomBytes } = await import('node:crypto');
    const fs = await import('node:fs');
    const { dirname } = await import('node:path');
    const { pipeline } = await import('node:stream/promises');
    const { Transform } = await import('node:stream');
    const putWhole = Store.prototype.putObject;
    Store.prototype.putObject = async function (object) {
      if (Buffer.isBuffer(object.content)) return putWhole.call(this, object);
      const path = this.getResourcePath(object.bucket, object.key, 'object');
      await fs.promises.mkdir(dirname(path), { recursive: true });
      const temp = path + '.partial-' + randomBytes(6).toString('hex');
      const md5 = createHash('md5');
      let size = 0;
      const count = new Transform({ transform(c, e, cb) { md5.update(c); size += c.length; cb(null, c); } });
      try {
        await pipeline(object.content, count, fs.createWriteStream(temp));
        // A request's body (not a multipart upload's parts) must have arrived whole.
        if (object.content.complete === false) throw new Error('IncompleteBody: the request ended early');
        await fs.promises.rename(temp, path);
      } catch (err) {
        await fs.promises.rm(temp, { force: true });
        throw err;
      }
      const digest = md5.digest('hex');
      await this.putMetadata(object.bucket, object.key, object.metadata, digest);
      return { size, md5: digest };
    };`;
}

function launch(port: number, directory: string): Promise<ChildProcess> {
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('s3rver')).href;
  const code = `
    const { default: S3rver } = await import(${JSON.stringify(entry)});
    ${atomicPut(entry)}
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
