/**
 * @module test/storage/deadlines
 * An S3, Azure or SFTP endpoint that accepts the connection and never answers (a real TCP
 * server that stays silent): a backup through the real CLI must fail within the configured
 * connect/idle limits and retry budget, with a message naming the endpoint. The limits are
 * short here to keep the test fast; the defaults are checked by reading the effective
 * policy, which must bound a silent endpoint well under 2 minutes.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { storageOptionsFromConfig } from '../../src/config/storage-settings.js';
import { effectiveRetryPolicy, RETRY_DEFAULTS } from '../../src/storage/retry-backend.js';
import { type SilentServer, startSilentServer } from '../../src/testing/servers/silent-server.js';
import { repoEnv, runCli, tempDir } from '../helpers/cli.js';

const LIMITS = '  connect_timeout: 1s\n  idle_timeout: 1s\n  retry_budget: 3s\n';

interface Case {
  name: string;
  url: (port: number) => string;
  config: (port: number) => string;
  /** How the message names the endpoint. */
  endpoint: (port: number) => string;
  env?: NodeJS.ProcessEnv;
}

const CASES: Case[] = [
  {
    name: 's3',
    url: () => 's3://silent-bucket/repo',
    config: (port) =>
      `  s3:\n    endpoint: http://127.0.0.1:${port}\n    path_style: true\n    region: us-east-1\n    access_key_id: AKIDSILENT\n    secret_access_key: silent-secret\n`,
    endpoint: (port) => `endpoint http://127.0.0.1:${port}`,
  },
  {
    name: 'azure',
    url: () => 'azure://silent/repo',
    config: (port) =>
      `  azure:\n    connection_string: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2lsZW50LWtleQ==;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;"\n`,
    endpoint: (port) => `endpoint http://127.0.0.1:${port}`,
  },
  {
    name: 'sftp',
    url: (port) => `sftp://backup@127.0.0.1:${port}/repo`,
    config: () => '  sftp:\n    password: silent-password\n',
    endpoint: (port) => `sftp://backup@127.0.0.1:${port}/repo`,
    env: { HOME: '/nonexistent', SSH_AUTH_SOCK: '' },
  },
];

describe('storage: every remote call has a deadline', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let silent: SilentServer;
  before(async () => {
    work = await tempDir('lifeboat-deadline-');
    await writeFile(join(work.dir, 'data.txt'), 'data\n');
  });
  after(async () => {
    await work?.cleanup();
  });

  for (const c of CASES) {
    describe(c.name, () => {
      before(async () => {
        silent = await startSilentServer();
      });
      after(async () => {
        await silent.close();
      });

      it(`${c.name}: a backup against a silent endpoint fails within the budget, naming the endpoint`, async () => {
        const file = join(work.dir, `${c.name}.yaml`);
        await writeFile(file, `repository:\n${LIMITS}${c.config(silent.port)}`);
        const started = Date.now();
        const r = await runCli(
          ['--config', file, 'backup', '--type', 'files', '--name', 'data', '--path', work.dir],
          repoEnv(c.url(silent.port), c.env ?? {}),
        );
        const elapsed = Date.now() - started;
        assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
        // 3 s of budget, one more attempt of at most 1 s, and the CLI's start.
        assert.ok(elapsed < 10_000, `took ${elapsed} ms: ${r.stderr}`);
        assert.ok(r.stderr.includes(c.endpoint(silent.port)), r.stderr);
        assert.match(r.stderr, /retry budget 3\.0s spent/);
        assert.ok(silent.connections >= 2, `${silent.connections} connections: no retry was made`);
      });
    });
  }

  it('bounds a silent endpoint well under 2 minutes by default', () => {
    const policy = effectiveRetryPolicy(storageOptionsFromConfig(undefined).retry || {});
    assert.deepEqual(
      {
        connect: policy.connectTimeoutMs,
        idle: policy.idleTimeoutMs,
        budget: policy.retryBudgetMs,
      },
      {
        connect: RETRY_DEFAULTS.connectTimeoutMs,
        idle: RETRY_DEFAULTS.idleTimeoutMs,
        budget: RETRY_DEFAULTS.retryBudgetMs,
      },
    );
    assert.ok(policy.silentEndpointMs <= 65_000, `default deadline ${policy.silentEndpointMs} ms`);
    const short = effectiveRetryPolicy(
      storageOptionsFromConfig({ connect_timeout: '1s', idle_timeout: '1s', retry_budget: '3s' }).retry || {},
    );
    assert.equal(short.silentEndpointMs, 3_000 + 1_000 + 3_000);
    // Without a budget, the retries alone bound it: 6 attempts and the backoff waits.
    const unbudgeted = effectiveRetryPolicy({ retryBudgetMs: 0 });
    assert.equal(unbudgeted.silentEndpointMs, 6 * 23_000 + 500 + 1000 + 2000 + 4000 + 8000);
  });
});
