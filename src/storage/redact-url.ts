/**
 * @module storage/redact-url
 * Repository URLs made safe for messages and logs.
 */

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * The URL without secrets, for messages and logs: drops `user:password@` and any user info
 * but an sftp login name (sftp://backup@host stays), and replaces every query value, which
 * may be a SAS token or a signature. Plain paths come back unchanged.
 */
export function redactUrl(url: string): string {
  const match = SCHEME.exec(url);
  if (!match) return url;
  const prefix = match[0];
  let rest = url.slice(prefix.length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  const sshUser = match[1].toLowerCase() === 'sftp' && !authority.slice(0, at).includes(':');
  if (at >= 0 && !sshUser) rest = rest.slice(at + 1);
  const query = rest.indexOf('?');
  if (query >= 0) {
    const hash = rest.indexOf('#', query);
    const end = hash < 0 ? rest.length : hash;
    const params = rest
      .slice(query + 1, end)
      .split('&')
      .map((p) => (p.includes('=') ? `${p.slice(0, p.indexOf('='))}=redacted` : p));
    rest = `${rest.slice(0, query + 1)}${params.join('&')}${rest.slice(end)}`;
  }
  return prefix + rest;
}
