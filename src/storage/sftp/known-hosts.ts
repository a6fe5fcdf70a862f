/**
 * @module storage/sftp/known-hosts
 * Host key verification for sftp: a key pinned in the config (`host_key: SHA256:...`), or a
 * matching line of known_hosts (plain, `[host]:port`, comma lists, `*`/`?` patterns, hashed
 * `|1|salt|hash` names, `@revoked`). An unknown or changed key is refused, never accepted
 * silently; the refusal carries the fingerprint and how to pin it.
 */
import { createHash, createHmac } from 'node:crypto';

/** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` and OpenSSH print it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

export type HostKeyVerdict =
  | { ok: true; how: 'pinned' | 'known_hosts' }
  | { ok: false; reason: 'unknown' | 'mismatch' | 'revoked' | 'pin_mismatch'; fingerprint: string };

/** The names a host is known by in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function hostNames(host: string, port: number): string[] {
  return port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function matchesHost(field: string, names: string[]): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return names.some(
      (n) => createHmac('sha1', Buffer.from(salt, 'base64')).update(n).digest('base64') === hash,
    );
  }
  let matched = false;
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    const hit = names.some((n) =>
      /[*?]/.test(pattern) ? globToRegExp(pattern).test(n) : pattern.toLowerCase() === n.toLowerCase(),
    );
    if (hit && negated) return false;
    if (hit) matched = true;
  }
  return matched;
}

/**
 * Checks `key` (the SSH wire-format public key the server offered) for host:port against a
 * pinned fingerprint, else the known_hosts text.
 */
export function verifyHostKey(
  key: Buffer,
  host: string,
  port: number,
  pinned: string | undefined,
  knownHosts: string | undefined,
): HostKeyVerdict {
  const fp = fingerprint(key);
  if (pinned) {
    const want = pinned.trim().replace(/=+$/, '');
    return want === fp ? { ok: true, how: 'pinned' } : { ok: false, reason: 'pin_mismatch', fingerprint: fp };
  }
  const names = hostNames(host, port);
  const offered = key.toString('base64');
  let sawHost = false;
  for (const line of (knownHosts ?? '').split(/\r?\n/)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || fields[0].startsWith('#')) continue;
    let marker: string | undefined;
    if (fields[0].startsWith('@')) marker = fields.shift();
    if (marker === '@cert-authority' || fields.length < 3) continue;
    const [hostsField, , keyField] = fields;
    if (!matchesHost(hostsField, names)) continue;
    if (marker === '@revoked') {
      if (keyField === offered) return { ok: false, reason: 'revoked', fingerprint: fp };
      continue;
    }
    sawHost = true;
    if (keyField === offered) return { ok: true, how: 'known_hosts' };
  }
  return { ok: false, reason: sawHost ? 'mismatch' : 'unknown', fingerprint: fp };
}
