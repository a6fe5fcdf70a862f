import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { blobId, KeyRing } from './crypto.js';
import { openVerified, sealBlob } from './pack.js';

function keyRing(): KeyRing {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const raw = (k: typeof publicKey, part: 'x' | 'd') =>
    Buffer.from(k.export({ format: 'jwk' })[part] as string, 'base64url');
  return new KeyRing({
    mac: randomBytes(32),
    chunkerSeed: randomBytes(32),
    dataKeys: new Map([[1, randomBytes(32)]]),
    current: 1,
    indexKey: randomBytes(32),
    boxPublic: raw(publicKey, 'x'),
    boxPrivate: raw(privateKey, 'd'),
  });
}

test('a blob sealed under another id is found by recomputing the id; the tag binds the id itself', () => {
  const keys = keyRing();
  const good = randomBytes(1000);
  const other = randomBytes(1000);
  const id = blobId(keys.mac, good);
  const entry = { type: 'data' as const, flags: 0, id, rawLength: 1000 };
  const what = 'blob';
  // Sealed correctly: opens either way.
  assert.ok(
    openVerified(keys, entry, sealBlob(keys.sealSpec, 'data', 0, id, good), what, false).equals(good),
  );
  // Other content sealed under this id by a holder of the data key (a writer's bug): only
  // recomputing the id finds it.
  const wrong = sealBlob(keys.sealSpec, 'data', 0, id, other);
  assert.throws(() => openVerified(keys, entry, wrong, what), /content does not match its id/);
  assert.ok(openVerified(keys, entry, wrong, what, false).equals(other));
  // Sealed to the public key (anyone with write-only credentials can): always recomputed.
  const boxed = sealBlob({ box: keys.boxPublic }, 'data', 0, id, other);
  assert.throws(() => openVerified(keys, entry, boxed, what, false), /content does not match its id/);
  // The id is authenticated: a correct blob presented under another id does not open.
  const moved = { ...entry, id: blobId(keys.mac, other) };
  const sealed = sealBlob(keys.sealSpec, 'data', 0, id, good);
  assert.throws(() => openVerified(keys, moved, sealed, what, false), /damaged/);
});
