/**
 * @module repo/escrow
 * Escrow of the repository's master key: sealed with age for a recipient's public key (or a
 * passphrase), so the repository URL, the escrow file and the private key bring back access
 * on a fresh machine when every password is lost.
 */
import { armor, Decrypter, Encrypter } from 'age-encryption';
import { LifeboatError } from '../errors.js';
import type { MasterKey } from './crypto.js';

export interface EscrowTarget {
  /** An age recipient (`age1...`). */
  recipient?: string;
  passphrase?: string;
}

export interface EscrowUnlock {
  /** An age identity (`AGE-SECRET-KEY-1...`), e.g. the contents of an age-keygen file. */
  identity?: string;
  passphrase?: string;
}

interface EscrowPayload {
  lifeboat_escrow: 1;
  repository: string;
  created: string;
  master: { kek: string; mac: string; chunkerSeed: string };
}

export async function sealEscrow(
  master: MasterKey,
  repositoryId: string,
  target: EscrowTarget,
  now: Date,
): Promise<string> {
  const payload: EscrowPayload = {
    lifeboat_escrow: 1,
    repository: repositoryId,
    created: now.toISOString(),
    master: {
      kek: master.kek.toString('base64'),
      mac: master.mac.toString('base64'),
      chunkerSeed: master.chunkerSeed.toString('base64'),
    },
  };
  const e = new Encrypter();
  if (target.recipient) {
    try {
      e.addRecipient(target.recipient.trim());
    } catch (err) {
      throw new LifeboatError(
        'usage',
        `[key] "${target.recipient.slice(0, 12)}..." is not an age recipient (expected age1...)`,
        { cause: err },
      );
    }
  } else if (target.passphrase) e.setPassphrase(target.passphrase);
  else
    throw new LifeboatError(
      'usage',
      '[key] export needs --recipient AGE_PUBLIC_KEY or --passphrase-file FILE',
    );
  return armor.encode(await e.encrypt(JSON.stringify(payload)));
}

export async function openEscrow(
  text: string,
  unlock: EscrowUnlock,
): Promise<{ master: MasterKey; repository: string }> {
  const d = new Decrypter();
  for (const line of (unlock.identity ?? '').split('\n')) {
    if (line.startsWith('AGE-SECRET-KEY-')) d.addIdentity(line.trim());
  }
  if (unlock.passphrase) d.addPassphrase(unlock.passphrase);
  if (!unlock.identity && !unlock.passphrase) {
    throw new LifeboatError(
      'usage',
      '[key] import needs --identity FILE (an age secret key) or --passphrase-file FILE',
    );
  }
  let plain: string;
  try {
    const bytes = text.trimStart().startsWith('-----BEGIN')
      ? armor.decode(text)
      : new Uint8Array(Buffer.from(text, 'binary'));
    plain = await d.decrypt(bytes, 'text');
  } catch (err) {
    throw new LifeboatError(
      'wrong_password',
      '[key] cannot open the escrow file with that identity or passphrase (check you have the matching private key)',
      { cause: err },
    );
  }
  const p = JSON.parse(plain) as EscrowPayload;
  if (p.lifeboat_escrow !== 1)
    throw new LifeboatError('usage', '[key] this file is not a lifeboat escrow file');
  return {
    repository: p.repository,
    master: {
      kek: Buffer.from(p.master.kek, 'base64'),
      mac: Buffer.from(p.master.mac, 'base64'),
      chunkerSeed: Buffer.from(p.master.chunkerSeed, 'base64'),
    },
  };
}
