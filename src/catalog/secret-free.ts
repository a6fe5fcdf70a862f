/**
 * @module catalog/secret-free
 * What the catalog may keep of a job's parameters, results and errors: URLs lose their
 * passwords (`postgres://app:pw@db/x` is kept as `postgres://app@db/x`) and the values of
 * query parameters that carry secrets. The catalog is a file on disk that outlives the job;
 * a restore target's password lives in the server's memory only.
 */

const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s"'<>]+)/gi;
const SECRET_PARAM = /pass|secret|token|sig|key|credential|auth/i;

function urlWithoutPassword(prefix: string, rest: string): string {
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  let out = rest;
  if (at >= 0) {
    const user = authority.slice(0, at).split(':')[0];
    out = (user ? `${user}@` : '') + rest.slice(at + 1);
  }
  return (
    prefix +
    out.replace(/([?&])([^=&#]+)=([^&#]*)/g, (m, sep: string, name: string) =>
      SECRET_PARAM.test(name) ? `${sep}${name}=redacted` : m,
    )
  );
}

/** `text` with the password of every URL in it dropped. */
export function withoutPasswordsInText(text: string): string {
  return text.replace(URL_IN_TEXT, (_m, prefix: string, rest: string) => urlWithoutPassword(prefix, rest));
}

/** A copy of a JSON value with every string passed through withoutPasswordsInText. */
export function withoutPasswords<T>(value: T): T {
  if (typeof value === 'string') return withoutPasswordsInText(value) as T;
  if (Array.isArray(value)) return value.map((v) => withoutPasswords(v)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutPasswords(v)])) as T;
  }
  return value;
}
