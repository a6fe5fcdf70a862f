import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { isRemoteUrl, openBackend, redactUrl } from './registry.js';
import { RetryBackend } from './retry-backend.js';

test('registry: plain paths and file URLs open the local backend', async () => {
  assert.equal((await openBackend('/var/backups/lb')).location, '/var/backups/lb');
  assert.equal((await openBackend('file:///var/backups/lb')).location, '/var/backups/lb');
  assert.equal((await openBackend('file:///var/backups/with%20space')).location, '/var/backups/with space');
  assert.equal((await openBackend('backups/lb')).location, resolve('backups/lb'));
});

test('registry: s3, azure and sftp URLs open remote backends wrapped with retries', async () => {
  const env = {
    AZURE_STORAGE_CONNECTION_STRING:
      'DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/a;',
  };
  for (const url of ['s3://bucket/prefix', 'azure://container/prefix', 'sftp://backup@host:2222/srv/repo']) {
    const b = await openBackend(url, { env });
    assert.ok(b instanceof RetryBackend, url);
    assert.equal(b.location, url);
  }
  assert.ok(!((await openBackend('s3://bucket/p', { retry: false })) instanceof RetryBackend));
  assert.ok(!((await openBackend('/var/backups/lb')) instanceof RetryBackend));
  assert.ok(isRemoteUrl('sftp://h/x') && !isRemoteUrl('/x') && !isRemoteUrl('file:///x'));
});

test('registry: credentials in remote URLs are refused without echoing them', async () => {
  for (const url of [
    's3://AKIA:s3cr3t@bucket/p',
    'azure://user:s3cr3t@container/p',
    'sftp://u:s3cr3t@host/p',
  ]) {
    await assert.rejects(
      openBackend(url),
      (err: Error) => (err as { code?: string }).code === 'usage' && !err.message.includes('s3cr3t'),
      url,
    );
  }
});

test('registry: unknown schemes, bad file URLs and empty URLs are usage errors without secrets', async () => {
  await assert.rejects(openBackend('ftp://me:hunter2@host/x'), (err: Error) => {
    assert.equal((err as { code?: string }).code, 'usage');
    assert.match(err.message, /unknown repository scheme ftp:\/\//);
    assert.doesNotMatch(err.message, /hunter2/);
    return true;
  });
  await assert.rejects(openBackend('file://otherhost/x'), { code: 'usage' });
  await assert.rejects(openBackend(''), { code: 'usage' });
});

test('redactUrl removes credentials and query values', () => {
  assert.equal(redactUrl('s3://AKIA123:s3cr3t@bucket/prefix'), 's3://bucket/prefix');
  assert.equal(redactUrl('s3://token@bucket/prefix'), 's3://bucket/prefix');
  assert.equal(redactUrl('sftp://backup@host:22/srv/repo'), 'sftp://backup@host:22/srv/repo');
  assert.equal(redactUrl('sftp://backup:pw@host/srv/repo'), 'sftp://host/srv/repo');
  assert.equal(
    redactUrl('azure://container/prefix?sv=2022&sig=abc%2Fdef&flag'),
    'azure://container/prefix?sv=redacted&sig=redacted&flag',
  );
  assert.equal(redactUrl('/var/backups/lb'), '/var/backups/lb');
  assert.equal(redactUrl('file:///var/backups/lb'), 'file:///var/backups/lb');
});
