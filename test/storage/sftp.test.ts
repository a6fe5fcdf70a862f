/**
 * The SFTP backend against a real OpenSSH server (sshd, started here with its own keys): the
 * shared contract, then what is SFTP's own (host key verification, URL forms, logins).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fingerprint, verifyHostKey } from '../../src/storage/sftp/known-hosts.js';
import { parseSftpUrl, SftpBackend } from '../../src/storage/sftp/sftp-backend.js';
import type { SftpSettings } from '../../src/storage/sftp/sftp-settings.js';
import { runBackendContract } from '../../src/testing/backend-contract.js';
import { type SshdServer, sshdMissing, startSshd } from '../../src/testing/servers/sshd.js';

const skip = sshdMissing();
let server: SshdServer;
let n = 0;

before(async () => {
  if (!skip) server = await startSshd();
});
after(async () => {
  await server?.close();
});

function fresh(settings: SftpSettings = {}, env: NodeJS.ProcessEnv = { HOME: '/nonexistent' }) {
  return new SftpBackend(server.url(`repo-${++n}`), {
    settings: { key_file: server.userKeyFile, known_hosts: server.knownHostsFile, ...settings },
    env,
  });
}

runBackendContract('sftp (sshd)', async () => ({ backend: fresh(), cleanup: async () => {} }), { skip });

const opts = skip ? { skip } : {};

test('sftp: an unknown host key is refused, with its fingerprint and how to pin it', opts, async () => {
  const empty = join(server.directory, 'empty_known_hosts');
  await writeFile(empty, '');
  const b = fresh({ known_hosts: empty });
  await assert.rejects(b.create(), (err: Error) => {
    assert.equal((err as { code?: string }).code, 'storage_failed');
    assert.ok(
      err.message.includes(`host key ${server.hostKeyFingerprint} of 127.0.0.1:${server.port} is unknown`),
      err.message,
    );
    assert.match(err.message, /host_key: SHA256:/);
    return true;
  });
  await b.close();
});

test('sftp: a pinned fingerprint is enough, and a wrong pin is refused', opts, async () => {
  const pinned = fresh({ known_hosts: '/nonexistent', host_key: server.hostKeyFingerprint });
  await pinned.create();
  await pinned.save({ type: 'key', name: 'k1' }, Buffer.from('k'));
  await pinned.close();
  const wrong = fresh({
    known_hosts: server.knownHostsFile,
    host_key: `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`,
  });
  await assert.rejects(wrong.create(), /not the one pinned in repository\.sftp\.host_key/);
  await wrong.close();
});

test('sftp: a changed host key in known_hosts is refused loudly', opts, async () => {
  const other = join(server.directory, 'other_known_hosts');
  const fake = Buffer.concat([
    Buffer.from([0, 0, 0, 11]),
    Buffer.from('ssh-ed25519'),
    Buffer.from([0, 0, 0, 32]),
    randomBytes(32),
  ]);
  await writeFile(other, `[127.0.0.1]:${server.port} ssh-ed25519 ${fake.toString('base64')}\n`);
  const b = fresh({ known_hosts: other });
  await assert.rejects(b.create(), /HOST KEY CHANGED/);
  await b.close();
});

test('sftp: a key the server does not know is refused with a clear message', opts, async () => {
  const b = fresh({ key_file: join(server.directory, 'host_ed25519') });
  await assert.rejects(b.create(), /refused every login method tried/);
  await b.close();
});

test('sftp: known_hosts matching: hashed names, ports, patterns, revoked keys', () => {
  const key = Buffer.concat([
    Buffer.from([0, 0, 0, 11]),
    Buffer.from('ssh-ed25519'),
    Buffer.from([0, 0, 0, 32]),
    randomBytes(32),
  ]);
  const b64 = key.toString('base64');
  const salt = randomBytes(20);
  const { createHmac } = require_crypto();
  const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[backup.example]:2222').digest('base64')}`;
  assert.deepEqual(verifyHostKey(key, 'backup.example', 2222, undefined, `${hashed} ssh-ed25519 ${b64}\n`), {
    ok: true,
    how: 'known_hosts',
  });
  assert.deepEqual(verifyHostKey(key, 'backup.example', 22, undefined, `backup.example ssh-ed25519 ${b64}`), {
    ok: true,
    how: 'known_hosts',
  });
  assert.deepEqual(
    verifyHostKey(key, 'b1.example', 22, undefined, `*.example,!b2.example ssh-ed25519 ${b64}`),
    { ok: true, how: 'known_hosts' },
  );
  assert.equal(
    verifyHostKey(key, 'b2.example', 22, undefined, `*.example,!b2.example ssh-ed25519 ${b64}`).ok,
    false,
  );
  assert.equal(
    verifyHostKey(key, 'backup.example', 2222, undefined, `backup.example ssh-ed25519 ${b64}`).ok,
    false,
  );
  const revoked = verifyHostKey(
    key,
    'h',
    22,
    undefined,
    `@revoked h ssh-ed25519 ${b64}\nh ssh-ed25519 ${b64}`,
  );
  assert.equal(revoked.ok === false && revoked.reason, 'revoked');
  assert.deepEqual(verifyHostKey(key, 'h', 22, fingerprint(key), undefined), { ok: true, how: 'pinned' });
});

test('sftp: URL forms', () => {
  assert.deepEqual(parseSftpUrl('sftp://backup@host:2222/srv/repo/'), {
    user: 'backup',
    host: 'host',
    port: 2222,
    path: '/srv/repo',
  });
  assert.deepEqual(parseSftpUrl('sftp://backup@host/~/repo'), {
    user: 'backup',
    host: 'host',
    port: 22,
    path: 'repo',
  });
  assert.deepEqual(parseSftpUrl('sftp://b@[::1]:2200/r'), { user: 'b', host: '::1', port: 2200, path: '/r' });
  assert.throws(
    () => parseSftpUrl('sftp://b:hunter2@host/r'),
    (err: Error) => !err.message.includes('hunter2'),
  );
  assert.throws(() => parseSftpUrl('sftp://b@host/'), { code: 'usage' });
  const b = new SftpBackend('sftp://backup@host:2222/srv/repo', { env: {} });
  assert.equal(b.location, 'sftp://backup@host:2222/srv/repo');
});

function require_crypto() {
  return { createHmac: (alg: string, key: Buffer) => import_createHmac(alg, key) };
}

import { createHmac as import_createHmac } from 'node:crypto';
