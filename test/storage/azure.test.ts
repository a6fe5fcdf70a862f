/**
 * The Azure backend against a real Blob service (azurite, started here): the shared
 * contract, then what is Azure's own (block uploads, pagination, credentials forms).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  AccountSASPermissions,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { AzureBackend, parseAzureUrl } from '../../src/storage/azure/azure-backend.js';
import type { AzureSettings } from '../../src/storage/azure/azure-settings.js';
import type { FileInfo } from '../../src/storage/backend.js';
import { runBackendContract } from '../../src/testing/backend-contract.js';
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  type AzuriteServer,
  azuriteMissing,
  startAzurite,
} from '../../src/testing/servers/azurite.js';

const skip = azuriteMissing();
let server: AzuriteServer;
let n = 0;

before(async () => {
  if (!skip) server = await startAzurite();
});
after(async () => {
  await server?.close();
});

/** A fresh container per backend: create() must make it. */
function fresh(settings: AzureSettings = {}, env: NodeJS.ProcessEnv = {}) {
  return new AzureBackend(`azure://lb${process.pid}x${++n}/repo/one`, {
    settings: { connection_string: server.connectionString, ...settings },
    env,
  });
}

runBackendContract('azure (azurite)', async () => ({ backend: fresh(), cleanup: async () => {} }), { skip });

const opts = skip ? { skip } : {};

test('azure: objects above the block size go up as blocks and read back whole', opts, async () => {
  const b = fresh({ block_size: 1024 * 1024 });
  try {
    await b.create();
    const data = randomBytes(5 * 1024 * 1024 + 3);
    const h = { type: 'pack' as const, name: randomBytes(32).toString('hex') };
    await b.save(h, data);
    assert.ok((await b.load(h)).equals(data));
    assert.ok((await b.load(h, 1024 * 1024 - 2, 4)).equals(data.subarray(1024 * 1024 - 2, 1024 * 1024 + 2)));
  } finally {
    await b.close();
  }
});

test('azure: listing pages (page size 7 over 30 objects)', opts, async () => {
  const b = fresh({ page_size: 7 });
  try {
    await b.create();
    const names = Array.from({ length: 30 }, () => randomBytes(32).toString('hex'));
    await Promise.all(names.map((name) => b.save({ type: 'pack', name }, Buffer.from(name))));
    const listed: FileInfo[] = [];
    for await (const f of b.list('pack')) listed.push(f);
    assert.deepEqual(listed.map((f) => f.name).sort(), names.sort());
  } finally {
    await b.close();
  }
});

test('azure: account and key from the settings, or from the environment', opts, async () => {
  const viaSettings = fresh({
    connection_string: undefined,
    account: AZURITE_ACCOUNT,
    key: AZURITE_KEY,
    endpoint: server.endpoint,
  });
  await viaSettings.create();
  await viaSettings.save({ type: 'key', name: 'k1' }, Buffer.from('k'));
  await viaSettings.close();
  const viaEnv = new AzureBackend(`azure://lb${process.pid}x${n}/repo/one`, {
    settings: { endpoint: server.endpoint },
    env: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY },
  });
  assert.deepEqual(await viaEnv.load({ type: 'key', name: 'k1' }), Buffer.from('k'));
  const viaConn = new AzureBackend(`azure://lb${process.pid}x${n}/repo/one`, {
    env: { AZURE_STORAGE_CONNECTION_STRING: server.connectionString },
  });
  assert.deepEqual(await viaConn.load({ type: 'key', name: 'k1' }), Buffer.from('k'));
});

test('azure: a SAS token from the settings works, and never shows in messages', opts, async () => {
  const sas = generateAccountSASQueryParameters(
    {
      services: 'b',
      resourceTypes: 'sco',
      permissions: AccountSASPermissions.parse('rwdlac'),
      expiresOn: new Date(Date.now() + 3_600_000),
    },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  ).toString();
  const b = fresh({
    connection_string: undefined,
    account: AZURITE_ACCOUNT,
    sas: `?${sas}`,
    endpoint: server.endpoint,
  });
  await b.create();
  await b.save({ type: 'key', name: 'k1' }, Buffer.from('k'));
  assert.deepEqual(await b.load({ type: 'key', name: 'k1' }), Buffer.from('k'));
  await assert.rejects(b.load({ type: 'key', name: 'missing' }), (err: Error) => {
    assert.equal((err as { code?: string }).code, 'not_found');
    assert.ok(!err.message.includes('sig='), err.message);
    return true;
  });
  assert.ok(!b.location.includes('sig'));
});

test('azure: a wrong key is access denied, and the key never shows', opts, async () => {
  const wrong = Buffer.from('not the key, a secret of its own').toString('base64');
  const b = fresh({
    connection_string: undefined,
    account: AZURITE_ACCOUNT,
    key: wrong,
    endpoint: server.endpoint,
  });
  await assert.rejects(b.save({ type: 'key', name: 'k1' }, Buffer.from('k')), (err: Error) => {
    assert.equal((err as { code?: string }).code, 'storage_failed');
    assert.match(
      err.message,
      /^\[storage:azure\] unable to write key k1 at azure:\/\/lb\d+x\d+\/repo\/one: access denied/,
    );
    assert.ok(!err.message.includes(wrong));
    return true;
  });
});

test('azure: no credentials is a usage error; SAS tokens stay out of messages', () => {
  assert.throws(() => new AzureBackend('azure://container/p', { env: {} }), {
    code: 'usage',
    message: /no credentials for azure:\/\/container\/p/,
  });
  assert.throws(
    () => parseAzureUrl('azure://container/p?sv=2022&sig=SECRETSIG'),
    (err: Error) => {
      assert.doesNotMatch(err.message, /SECRETSIG/);
      return true;
    },
  );
  assert.deepEqual(parseAzureUrl('azure://my-container/a/b/'), { container: 'my-container', prefix: 'a/b' });
});
