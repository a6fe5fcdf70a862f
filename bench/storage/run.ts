/**
 * @module bench/storage/run
 * `node dist/bench/storage/run.js [--size MiB] [--backends local,s3,azure,sftp] [--json]`
 *
 * Backup and restore throughput through each storage backend against its throwaway test
 * server (s3rver, azurite, sshd; all on this machine, so the network is loopback), next to
 * the local backend, and the requests each needs per GiB stored. HTTP requests are counted
 * by a pass-through proxy in front of s3rver and azurite; backend calls by a counting
 * wrapper. "raw" rows time bare 16 MiB saves and loads (two in flight, as the repository
 * uploads), which is the ceiling the store sets; backup below raw means the CPU side
 * (chunking, compression, encryption) dominates, near raw means the store does.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupSource } from '../../src/jobs/backup.js';
import { runRestore } from '../../src/jobs/restore.js';
import { Repository } from '../../src/repo/repository.js';
import type { Backend } from '../../src/storage/backend.js';
import { withCounting } from '../../src/storage/counting-backend.js';
import { openBackend } from '../../src/storage/registry.js';
import type { StorageOptions } from '../../src/storage/storage-options.js';
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  azuriteMissing,
  startAzurite,
} from '../../src/testing/servers/azurite.js';
import { type FaultProxy, startFaultProxy } from '../../src/testing/servers/fault-proxy.js';
import { S3RVER_CREDENTIALS, s3rverMissing, startS3rver } from '../../src/testing/servers/s3rver.js';
import { sshdMissing, startSshd } from '../../src/testing/servers/sshd.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const log = (m: string) => process.stderr.write(`[bench:storage] ${m}\n`);

interface Target {
  name: string;
  url: string;
  options: StorageOptions;
  proxy?: FaultProxy;
  stop: () => Promise<void>;
}

interface Row {
  backend: string;
  dataMiB: number;
  storedMiB: number;
  backupMiBs: number;
  restoreMiBs: number;
  rawPutMiBs: number;
  rawGetMiBs: number;
  backupRequests?: number;
  restoreRequests?: number;
  requestsPerGiBStored?: number;
  backupCalls: number;
  restoreCalls: number;
  callsPerGiBStored: number;
}

function parseArgs(argv: string[]) {
  const out = { sizeMiB: 256, backends: ['local', 's3', 'azure', 'sftp'], json: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--size') out.sizeMiB = Number(argv[++i]);
    else if (argv[i] === '--backends') out.backends = argv[++i].split(',');
    else if (argv[i] === '--json') out.json = true;
    else {
      process.stderr.write(
        'usage: node dist/bench/storage/run.js [--size MiB] [--backends local,s3,azure,sftp] [--json]\n',
      );
      process.exit(2);
    }
  }
  return out;
}

/** Files of 4 MiB: three in four random (incompressible), one in four repetitive text. */
async function makeData(dir: string, sizeMiB: number): Promise<number> {
  await mkdir(dir, { recursive: true });
  const files = Math.max(1, Math.round(sizeMiB / 4));
  for (let i = 0; i < files; i++) {
    const body =
      i % 4 === 3
        ? Buffer.from(`line ${i} of a log that repeats itself\n`.repeat((4 * MiB) / 36)).subarray(0, 4 * MiB)
        : randomBytes(4 * MiB);
    await mkdir(join(dir, `d${i % 8}`), { recursive: true });
    await writeFile(join(dir, `d${i % 8}`, `f${i}`), body);
  }
  return files * 4 * MiB;
}

async function raw(backend: Backend): Promise<{ put: number; get: number }> {
  const objects = Array.from({ length: 8 }, () => ({
    name: randomBytes(32).toString('hex'),
    data: randomBytes(16 * MiB),
  }));
  const inPairs = async (fn: (o: (typeof objects)[0]) => Promise<unknown>) => {
    const t = performance.now();
    for (let i = 0; i < objects.length; i += 2) await Promise.all(objects.slice(i, i + 2).map(fn));
    return (objects.length * 16) / ((performance.now() - t) / 1000);
  };
  const put = await inPairs((o) => backend.save({ type: 'pack', name: o.name }, o.data));
  const get = await inPairs((o) => backend.load({ type: 'pack', name: o.name }));
  for (const o of objects) await backend.remove({ type: 'pack', name: o.name });
  return { put, get };
}

async function targets(wanted: string[], work: string): Promise<Target[]> {
  const out: Target[] = [];
  const noRetry = { retry: {} } satisfies StorageOptions;
  for (const name of wanted) {
    if (name === 'local') {
      out.push({ name: 'local', url: join(work, 'local-repo'), options: {}, stop: async () => {} });
    } else if (name === 's3') {
      const missing = s3rverMissing();
      if (missing) {
        log(`SKIPPED s3: ${missing}`);
        continue;
      }
      const s = await startS3rver();
      const proxy = await startFaultProxy({ host: '127.0.0.1', port: s.port }, { mode: 'pass' });
      out.push({
        name: 's3 (s3rver)',
        url: 's3://bench/repo',
        options: {
          ...noRetry,
          env: {},
          s3: { endpoint: proxy.endpoint, region: 'us-east-1', path_style: true, ...S3RVER_CREDENTIALS },
        },
        proxy,
        stop: async () => {
          await proxy.close();
          await s.close();
        },
      });
    } else if (name === 'azure') {
      const missing = azuriteMissing();
      if (missing) {
        log(`SKIPPED azure: ${missing}`);
        continue;
      }
      const s = await startAzurite();
      const proxy = await startFaultProxy({ host: '127.0.0.1', port: s.port }, { mode: 'pass' });
      out.push({
        name: 'azure (azurite)',
        url: 'azure://bench/repo',
        options: {
          ...noRetry,
          env: {},
          azure: {
            account: AZURITE_ACCOUNT,
            key: AZURITE_KEY,
            endpoint: `${proxy.endpoint}/${AZURITE_ACCOUNT}`,
          },
        },
        proxy,
        stop: async () => {
          await proxy.close();
          await s.close();
        },
      });
    } else if (name === 'sftp') {
      const missing = sshdMissing();
      if (missing) {
        log(`SKIPPED sftp: ${missing}`);
        continue;
      }
      const s = await startSshd();
      out.push({
        name: 'sftp (sshd)',
        url: s.url('repo'),
        options: {
          ...noRetry,
          env: { HOME: s.directory },
          sftp: { key_file: s.userKeyFile, known_hosts: s.knownHostsFile },
        },
        stop: () => s.close(),
      });
    }
  }
  return out;
}

async function measure(t: Target, data: string, dataBytes: number, work: string): Promise<Row> {
  const counted = withCounting(await openBackend(t.url, t.options));
  const repo = await Repository.init(counted, 'bench', { kdf: { N: 1024, r: 8, p: 1 } });
  try {
    counted.reset();
    t.proxy?.resetStats();
    let start = performance.now();
    await backupSource(repo, { name: 'bench', config: { type: 'files', path: data } });
    const backupS = (performance.now() - start) / 1000;
    const stored = counted.counts.bytesSaved;
    const backupCalls = counted.calls;
    const backupRequests = t.proxy?.stats.requests;

    counted.reset();
    t.proxy?.resetStats();
    const to = join(work, `restore-${t.name.split(' ')[0]}`);
    start = performance.now();
    await runRestore(repo, {
      snapshot: 'latest',
      configured: {},
      options: { to, include: [], tables: [], overwrite: false, dryRun: false },
    });
    const restoreS = (performance.now() - start) / 1000;
    const restoreCalls = counted.calls;
    const restoreRequests = t.proxy?.stats.requests;
    await rm(to, { recursive: true, force: true });

    const r = await raw(counted);
    const storedGiB = stored / GiB;
    return {
      backend: t.name,
      dataMiB: dataBytes / MiB,
      storedMiB: Math.round(stored / MiB),
      backupMiBs: dataBytes / MiB / backupS,
      restoreMiBs: dataBytes / MiB / restoreS,
      rawPutMiBs: r.put,
      rawGetMiBs: r.get,
      backupRequests,
      restoreRequests,
      requestsPerGiBStored: backupRequests === undefined ? undefined : backupRequests / storedGiB,
      backupCalls,
      restoreCalls,
      callsPerGiBStored: backupCalls / storedGiB,
    };
  } finally {
    await repo.close();
    await counted.close();
  }
}

function table(rows: Row[]): string {
  const head = [
    'backend',
    'backup MiB/s',
    'restore MiB/s',
    'raw put MiB/s',
    'raw get MiB/s',
    'stored MiB',
    'HTTP req (backup/restore)',
    'HTTP req per GiB stored',
    'backend calls per GiB stored',
  ];
  const f = (n: number | undefined, d = 0) => (n === undefined ? '-' : n.toFixed(d));
  const body = rows.map((r) => [
    r.backend,
    f(r.backupMiBs, 1),
    f(r.restoreMiBs, 1),
    f(r.rawPutMiBs, 1),
    f(r.rawGetMiBs, 1),
    f(r.storedMiB),
    r.backupRequests === undefined ? '-' : `${r.backupRequests}/${r.restoreRequests}`,
    f(r.requestsPerGiBStored),
    f(r.callsPerGiBStored),
  ]);
  const lines = [head, ...body].map((cells) => `| ${cells.join(' | ')} |`);
  lines.splice(1, 0, `|${head.map(() => '---').join('|')}|`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = await mkdtemp(join(tmpdir(), 'lifeboat-bench-storage-'));
  const all: Target[] = [];
  try {
    const data = join(work, 'data');
    const bytes = await makeData(data, args.sizeMiB);
    log(`data: ${bytes / MiB} MiB in ${work}`);
    all.push(...(await targets(args.backends, work)));
    const rows: Row[] = [];
    for (const t of all) {
      log(`measuring ${t.name}`);
      rows.push(await measure(t, data, bytes, work));
    }
    if (args.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else process.stdout.write(`${table(rows)}\n`);
  } finally {
    for (const t of all) await t.stop().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

await main();
