/**
 * @module config/duration
 * Durations as people write them in config and flags: 90s, 30m, 26h, 7d, 2w, 1y (365 days),
 * or a sum like 1h30m. `m` is minutes: months have no fixed length (use 30d).
 */
import { LifeboatError } from '../errors.js';

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** Whole strings accepted by parseDuration; also the JSON Schema pattern. */
export const DURATION_PATTERN = /^(\d+[smhdwy])+$/;

/** Milliseconds in a duration such as '26h' or '7d'; a 'usage' error names a bad value. */
export function parseDuration(text: string): number {
  const value = text.trim();
  if (!DURATION_PATTERN.test(value)) {
    throw new LifeboatError(
      'usage',
      `[config] invalid duration "${text}": use a whole number and a unit (s, m, h, d, w, y), like 30m, 26h, 7d`,
    );
  }
  let ms = 0;
  for (const [, n, unit] of value.matchAll(/(\d+)([smhdwy])/g)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}
