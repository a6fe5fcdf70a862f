/**
 * The S3 backend against a real S3 server (s3rver, started here): the shared contract, then
 * what is S3's own (pagination, multipart, path style, URL forms, errors without secrets).
 * The contract runs twice: on s3rver as it is (no conditional writes claimed), and with
 * conditional writes on, through a front that enforces If-None-Match / If-Match as AWS does
 * (test/helpers/s3-conditions.ts: s3rver ignores both headers).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FileInfo } from '../../src/storage/backend.js';
import { createS3Backend, parseS3Url, S3Backend } from '../../src/storage/s3/s3-backend.js';
import type { S3Settings } from '../../src/storage/s3/s3-settings.js';
import { runBackendContract } from '../../src/testing/backend-contract.js';
import {
  S3RVER_CREDENTIALS,
  type S3rverServer,
  s3rverMissing,
  startS3rver,
} from '../../src/testing/servers/s3rver.js';
import { type ConditionalFront, startConditionalFront } from '../helpers/s3-conditions.js';

const skip = s3rverMissing();
let server: S3rverServer;
let front: ConditionalFront;
let n = 0;

before(async () => {
  if (skip) return;
  server = await startS3rver();
  front = await startConditionalFront(server);
});
after(async () => {
  await front?.close();
  await server?.close();
});

function settings(extra: S3Settings = {}): S3Settings {
  return {
    endpoint: server.endpoint,
    region: 'us-east-1',
    path_style: true,
    ...S3RVER_CREDENTIALS,
    ...extra,
  };
}

/** A fresh bucket per test: create() must make it. */
function fresh(extra: S3Settings = {}, prefix = 'repo/one') {
  return new S3Backend(`s3://lb-${process.pid}-${++n}/${prefix}`, { settings: settings(extra), env: {} });
}

runBackendContract('s3 (s3rver)', async () => ({ backend: fresh(), cleanup: async () => {} }), { skip });

runBackendContract(
  's3 with conditional_writes (s3rver behind a conditional-write front)',
  async () => ({
    backend: fresh({ endpoint: front.endpoint, conditional_writes: true }),
    cleanup: async () => {},
  }),
  { skip },
);

const opts = skip ? { skip } : {};

test('s3: listing pages through more than 1000 objects (page size 100, then the default)', opts, async () => {
  const b = fresh({ page_size: 100 });
  try {
    await b.create();
    const names = Array.from({ length: 1050 }, () => randomBytes(32).toString('hex'));
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names.slice(i, i + 50).map((name) => b.save({ type: 'index', name }, Buffer.from('x'))),
      );
    }
    const listed: FileInfo[] = [];
    for await (const f of b.list('index')) listed.push(f);
    assert.equal(listed.length, 1050);
    assert.deepEqual(listed.map((f) => f.name).sort(), names.sort());
    const whole = new S3Backend(`s3://lb-${process.pid}-${n}/repo/one`, { settings: settings(), env: {} });
    let count = 0;
    for await (const _ of whole.list('index')) count++;
    assert.equal(count, 1050);
    await whole.close();
  } finally {
    await b.close();
  }
});

test('s3: objects above the part size go up as multipart uploads and read back whole', opts, async () => {
  const b = fresh({ part_size: 5 * 1024 * 1024 });
  try {
    await b.create();
    const data = randomBytes(12 * 1024 * 1024 + 17);
    const h = { type: 'pack' as const, name: randomBytes(32).toString('hex') };
    await b.save(h, data);
    assert.ok((await b.load(h)).equals(data));
    assert.ok(
      (await b.load(h, 5 * 1024 * 1024 - 3, 10)).equals(
        data.subarray(5 * 1024 * 1024 - 3, 5 * 1024 * 1024 + 7),
      ),
    );
  } finally {
    await b.close();
  }
});

test('s3: the layout matches the local backend (data/xx/name, keys/, snapshots/ ...)', opts, async () => {
  const b = fresh({}, 'deep/prefix/');
  try {
    await b.create();
    const name = `ab${randomBytes(31).toString('hex')}`;
    await b.save({ type: 'pack', name }, Buffer.from('p'));
    await b.save({ type: 'config', name: 'config' }, Buffer.from('c'));
    // s3rver keeps each object as a file named after its key.
    const bucketDir = join(server.directory, `lb-${process.pid}-${n}`, 'deep', 'prefix');
    assert.ok(existsSync(join(bucketDir, 'data', 'ab', `${name}._S3rver_object`)));
    assert.ok(existsSync(join(bucketDir, `config._S3rver_object`)));
    const listed: FileInfo[] = [];
    for await (const f of b.list('pack')) listed.push({ name: f.name, size: f.size });
    assert.deepEqual(listed, [{ name, size: 1 }]);
    assert.equal(b.location, `s3://lb-${process.pid}-${n}/deep/prefix`);
  } finally {
    await b.close();
  }
});

test('s3 (the test server): a PUT cut short by its client stores nothing, as S3 does', opts, async () => {
  const b = fresh({}, 'cut');
  try {
    await b.create();
    const bucket = `lb-${process.pid}-${n}`;
    const key = `cut/data/ab/ab${'0'.repeat(62)}`;
    // Half of a 64 KiB body, then the connection dropped: a writer killed mid-upload.
    await new Promise<void>((resolve) => {
      const req = request(`${server.endpoint}/${bucket}/${key}`, {
        method: 'PUT',
        headers: { 'content-length': 65536 },
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(32768, 1), () => setTimeout(() => req.destroy(), 200));
    });
    await new Promise((r) => setTimeout(r, 300));
    const listed: string[] = [];
    for await (const f of b.list('pack')) listed.push(f.name);
    assert.deepEqual(listed, []);
    await assert.rejects(b.stat({ type: 'pack', name: `ab${'0'.repeat(62)}` }), { code: 'not_found' });
  } finally {
    await b.close();
  }
});

test('s3: URL forms; credentials in the URL are refused without echoing them', () => {
  assert.deepEqual(parseS3Url('s3://bucket/a/b/'), { bucket: 'bucket', prefix: 'a/b' });
  assert.deepEqual(parseS3Url('s3://bucket'), { bucket: 'bucket', prefix: '' });
  assert.throws(
    () => parseS3Url('s3://AKIA:hunter2@bucket/x'),
    (err: Error) => {
      assert.equal((err as { code?: string }).code, 'usage');
      assert.doesNotMatch(err.message, /hunter2|AKIA/);
      return true;
    },
  );
});

test('s3: wrong credentials fail with access denied, naming the bucket, never the secret', opts, async () => {
  const b = createS3Backend(`s3://lb-${process.pid}-denied/x`, {
    settings: { ...settings(), access_key_id: 'NOBODY', secret_access_key: 'sup3r-s3cret-value' },
    env: {},
  });
  try {
    await assert.rejects(b.save({ type: 'key', name: 'k1' }, Buffer.from('k')), (err: Error) => {
      assert.equal((err as { code?: string }).code, 'storage_failed');
      assert.match(err.message, /^\[storage:s3\] unable to write key k1 at s3:\/\/lb-\d+-denied\/x: /);
      assert.doesNotMatch(err.message, /sup3r-s3cret-value/);
      return true;
    });
  } finally {
    await b.close();
  }
});

test('s3: a server that is down gives a retryable error naming the store', opts, async () => {
  const b = new S3Backend('s3://nobody-home/x', {
    settings: { ...settings(), endpoint: 'http://127.0.0.1:9' },
    env: {},
  });
  try {
    await assert.rejects(
      b.stat({ type: 'config', name: 'config' }),
      (err: Error & { retryable?: boolean }) => {
        assert.equal(err.retryable, true, err.message);
        assert.match(
          err.message,
          /^\[storage:s3\] unable to stat config at s3:\/\/nobody-home\/x \(endpoint http:\/\/127\.0\.0\.1:9\): /,
        );
        return true;
      },
    );
  } finally {
    await b.close();
  }
});

test('s3: conditional writes are claimed on AWS, and with a custom endpoint only when set', () => {
  const aws = new S3Backend('s3://bucket/x', { settings: { region: 'eu-west-1' }, env: {} });
  const custom = new S3Backend('s3://bucket/x', { settings: { endpoint: 'http://127.0.0.1:9' }, env: {} });
  const viaEnv = new S3Backend('s3://bucket/x', { env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' } });
  const told = new S3Backend('s3://bucket/x', {
    settings: { endpoint: 'http://127.0.0.1:9', conditional_writes: true },
    env: {},
  });
  const off = new S3Backend('s3://bucket/x', { settings: { conditional_writes: false }, env: {} });
  assert.deepEqual(
    [aws, custom, viaEnv, told, off].map((b) => b.capabilities.conditionalWrites),
    [true, false, false, true, false],
  );
});

test(
  's3: with conditional_writes on a store that ignores the headers, the first conditional write is refused and says what to set',
  opts,
  async () => {
    // Plain s3rver: it accepts If-None-Match: * on PutObject and replaces the object anyway.
    const b = fresh({ conditional_writes: true });
    try {
      await b.create();
      const lease = { type: 'lock' as const, name: 'lease-prune' };
      const refusal = (err: Error & { code?: string }) => {
        assert.equal(err.code, 'unsupported');
        assert.match(
          err.message,
          /replaced locks\/lease-probe-[0-9a-f]+ though the PutObject said If-None-Match: \*/,
        );
        assert.match(err.message, /set repository\.s3\.conditional_writes: false/);
        assert.match(err.message, new RegExp(`endpoint ${server.endpoint.replace(/[.]/g, '\\.')}`));
        return true;
      };
      await assert.rejects(b.createIfAbsent(lease, Buffer.from('mine')), refusal);
      // Checked once per process: the verdict stands without another probe.
      await assert.rejects(b.replaceIfVersion(lease, Buffer.from('mine'), '"x"'), refusal);
      // No lease was written, and the probe object is gone.
      const locks: string[] = [];
      for await (const f of b.list('lock')) locks.push(f.name);
      assert.deepEqual(locks, []);
    } finally {
      await b.close();
    }
  },
);

test(
  's3: through the conditional-write front, a lost race answers 412 and the backend reports it as lost',
  opts,
  async () => {
    const b = fresh({ endpoint: front.endpoint, conditional_writes: true });
    try {
      await b.create();
      const h = { type: 'lock' as const, name: 'lease-front' };
      const before = { ...front.stats };
      const v1 = await b.createIfAbsent(h, Buffer.from('one'));
      assert.ok(v1);
      assert.equal(await b.createIfAbsent(h, Buffer.from('two')), undefined);
      assert.equal(await b.replaceIfVersion(h, Buffer.from('three'), '"0123"'), undefined);
      assert.deepEqual(await b.load(h), Buffer.from('one'));
      // The front saw the conditions and refused the two that did not hold.
      assert.ok(front.stats.refused - before.refused >= 2, JSON.stringify(front.stats));
    } finally {
      await b.close();
    }
  },
);
