import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { openBackend, redactUrl } from './registry.js';

test('registry: plain paths and file URLs open the local backend', () => {
  assert.equal(openBackend('/var/backups/lb').location, '/var/backups/lb');
  assert.equal(openBackend('file:///var/backups/lb').location, '/var/backups/lb');
  assert.equal(openBackend('file:///var/backups/with%20space').location, '/var/backups/with space');
  assert.equal(openBackend('backups/lb').location, resolve('backups/lb'));
});

test('registry: schemes without a backend in this build are usage errors', () => {
  for (const scheme of ['s3', 'azure', 'sftp']) {
    assert.throws(() => openBackend(`${scheme}://user:secret@bucket/prefix`), {
      code: 'usage',
      message: `[storage] ${scheme}:// repositories are not supported in this build yet; use a local path`,
    });
  }
});

test('registry: unknown schemes, bad file URLs and empty URLs are usage errors without secrets', () => {
  assert.throws(
    () => openBackend('ftp://me:hunter2@host/x'),
    (err: Error) => {
      assert.equal((err as { code?: string }).code, 'usage');
      assert.match(err.message, /unknown repository scheme ftp:\/\//);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    },
  );
  assert.throws(() => openBackend('file://otherhost/x'), { code: 'usage' });
  assert.throws(() => openBackend(''), { code: 'usage' });
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
