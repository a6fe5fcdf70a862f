/**
 * @module jobs/queue/redact
 * What the API and the logs may show of settings and messages: no passwords, tokens, keys or
 * credentials inside URLs. Settings keep their shape; secret values become "[redacted]".
 */
import { redactUrl } from '../../storage/registry.js';

const SECRET_KEY = /(^|_)pass($|_)|password|passphrase|secret|token|credential|private|(^|_)key$|^auth/i;
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;

/** A copy of source settings safe to show: secret keys hidden, URLs without credentials, hooks named only. */
export function redactSettings(value: unknown, key = ''): unknown {
  if (key === 'hooks' && value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value).map((k) => [k, k === 'timeout' ? (value as Record<string, unknown>)[k] : '[set]']),
    );
  }
  if (key && SECRET_KEY.test(key) && value !== undefined && value !== null) return '[redacted]';
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map((v) => redactSettings(v));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactSettings(v, k);
    return out;
  }
  return value;
}

/** Text with every URL in it stripped of user info and query values. */
export function redactText(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => {
    try {
      return redactUrl(url);
    } catch {
      return '[url]';
    }
  });
}
