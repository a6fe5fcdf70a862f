import assert from 'node:assert/strict';
import { test } from 'node:test';
import { s3SettingsSchema } from '../storage/s3/s3-settings.js';
import { parseConfig } from './config.js';
import { storageOptionsFromConfig } from './storage-settings.js';
import { repositoryStorageKeys } from './storage-settings-schema.js';

const parse = (yaml: string) => parseConfig(yaml, 'lifeboat.yaml', {});

test("storage settings: each backend section is that backend's own schema", () => {
  assert.equal(repositoryStorageKeys.s3.unwrap(), s3SettingsSchema);
});

test('storage settings: backend sections pass through to the backend as written', () => {
  const config = parse(`
repository:
  url: s3://bucket/repo
  s3: { region: eu-west-1, part_size: 16MiB, path_style: true }
  sftp: { key_file: /etc/lifeboat/id_ed25519 }
`);
  const options = storageOptionsFromConfig(config.repository, {});
  assert.deepEqual(options.s3, { region: 'eu-west-1', part_size: '16MiB', path_style: true });
  assert.deepEqual(options.sftp, { key_file: '/etc/lifeboat/id_ed25519' });
  assert.throws(() => parse('repository:\n  s3: { partsize: 16MiB }\n'), /partsize/);
  assert.throws(() => parse('repository:\n  azure: { block_size: 8 megabytes }\n'), /block_size/);
});

test('storage settings: limits are KiB/s as a number, or a size per second', () => {
  const limits = (up: string) =>
    storageOptionsFromConfig(parse(`repository:\n  limit_upload: ${up}\n`).repository, {});
  assert.equal(limits('2048').limitUploadBytesPerSecond, 2 * 1024 ** 2);
  assert.equal(limits('2MiB').limitUploadBytesPerSecond, 2 * 1024 ** 2);
  assert.equal(limits('2MB/s').limitUploadBytesPerSecond, 2 * 1024 ** 2);
  assert.throws(() => limits('fast'), /limit_upload/);
});
