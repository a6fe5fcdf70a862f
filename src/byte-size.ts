/**
 * @module byte-size
 * The one grammar for sizes in lifeboat.yaml and on the command line, and the one way sizes
 * are printed. Every unit is a power of 1024, whatever its spelling: `K`, `KB`, `KiB` are
 * 1024 bytes, `M`, `MB`, `MiB` 1024^2, and so on to `T`; case does not matter, a space may
 * sit before the unit, the number may have decimals, and a bare number is bytes. So "500MB"
 * means 500 MiB everywhere, as PostgreSQL and restic read it, and as Lifeboat prints it.
 * Rates (--limit-upload) take the same sizes per second; a bare number there is KiB/s.
 * Their config schemas are in byte-size-schema.ts: the command line needs no zod for them.
 */
import { LifeboatError } from './errors.js';

// No `i` flag: the JSON Schema for editors carries the pattern, and has no flags.
const QUANTITY = String.raw`\s*(\d+(?:\.\d+)?)\s*(?:([KkMmGgTt])(?:[iI]?[bB])?|[bB])?\s*`;
/** A size: what isByteSize accepts. */
export const SIZE_PATTERN = new RegExp(`^${QUANTITY}$`);
/** A rate: what isByteRate accepts. */
export const RATE_PATTERN = new RegExp(`^${QUANTITY}(?:/s)?\\s*$`);
const POWER: Record<string, number> = { K: 1, M: 2, G: 3, T: 4 };

/** True when `text` is a size in the grammar above. */
export function isByteSize(text: string): boolean {
  return SIZE_PATTERN.test(text);
}

/** Bytes in a size (`"8MiB"`, `"1.5 GB"`, `"4096"`, or a number of bytes), rounded to a whole byte. */
export function parseByteSize(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = SIZE_PATTERN.exec(value);
  if (!m) {
    throw new LifeboatError(
      'config_invalid',
      `[config] "${value}" is not a size (use a number of bytes or one with a unit, such as 512MiB or 10GiB)`,
    );
  }
  const power = m[2] ? POWER[m[2].toUpperCase()] : 0;
  return Math.round(Number(m[1]) * 1024 ** power);
}

/**
 * Bytes per second in a rate: a size per second (`"2MiB"`, `"2MiB/s"`), or a bare number,
 * which is KiB/s (as restic's --limit-upload; what `limit_upload: 2048` has always meant).
 */
export function parseByteRate(value: string | number): number {
  if (typeof value === 'number') return value * 1024;
  const size = value.replace(/\/s\s*$/, '');
  if (/^\s*\d+(\.\d+)?\s*$/.test(size)) return Number(size) * 1024;
  return parseByteSize(size);
}

/** True when `text` is a rate parseByteRate takes. */
export function isByteRate(text: string): boolean {
  return RATE_PATTERN.test(text);
}

/** `1.50 MiB`: a size as Lifeboat prints it, in powers of 1024 with their IEC names. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
