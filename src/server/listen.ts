/**
 * @module server/listen
 * The address `lifeboat serve` listens on.
 */

export const DEFAULT_LISTEN = '127.0.0.1:8080';

/** `HOST:PORT`, `[::1]:PORT` or `:PORT`. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new Error(`"${text}" is not HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080)`);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
