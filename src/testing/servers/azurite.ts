/**
 * @module testing/servers/azurite
 * A throwaway Azure Blob Storage emulator (azurite's blob service) in a child process on a
 * free loopback port, with its data in a temp folder. It serves the well-known development
 * account `devstoreaccount1`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { killChild } from './child-process.js';
import { freePort } from './free-port.js';

/** Azurite's fixed development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteServer {
  endpoint: string;
  port: number;
  connectionString: string;
  /** Environment for a child `lifeboat` using this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

function blobMain(): string {
  const pkg = createRequire(import.meta.url).resolve('azurite/package.json');
  return join(dirname(pkg), 'dist', 'src', 'blob', 'main.js');
}

/** Why azurite cannot run here, or undefined when it can. */
export function azuriteMissing(): string | undefined {
  try {
    blobMain();
    return undefined;
  } catch {
    return 'azurite is not installed (npm install -D azurite)';
  }
}

function launch(port: number, directory: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      blobMain(),
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--location',
      directory,
      '--silent',
      '--skipApiVersionCheck',
      '--loose',
      '--disableTelemetry',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: directory },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`azurite did not start within 30s: ${out}`));
    }, 30_000);
    const onData = (d: string) => {
      out += d;
      if (/successfully listens on|listening at/i.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited with ${code} before it was ready: ${out}`));
    });
  });
}

export async function startAzurite(): Promise<AzuriteServer> {
  const directory = await mkdtemp(join(tmpdir(), 'lifeboat-azurite-'));
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port, directory);
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`;
  return {
    endpoint,
    port,
    connectionString,
    env: { AZURE_STORAGE_CONNECTION_STRING: connectionString },
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
