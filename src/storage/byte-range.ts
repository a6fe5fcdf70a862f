/**
 * @module storage/byte-range
 * The checks of a ranged read (`load(handle, offset, length)`), shared by every backend so
 * they agree on what a bad range is (a caller's bug: 'internal') and on what a range past the
 * end of an object is (damage: 'integrity', never short data; see Backend.load).
 */
import { LifeboatError } from '../errors.js';
import type { FileHandle } from './backend.js';
import { objectName } from './layout.js';

/** The range's start; throws 'internal' when offset or length is not a whole number >= 0. */
export function rangeStart(component: string, h: FileHandle, offset?: number, length?: number): number {
  const start = offset ?? 0;
  if (
    !Number.isSafeInteger(start) ||
    start < 0 ||
    (length !== undefined && (!Number.isSafeInteger(length) || length < 0))
  ) {
    throw new LifeboatError(
      'internal',
      `[${component}] invalid range offset=${offset} length=${length} for ${objectName(h)}`,
    );
  }
  return start;
}

/** The error of a read of `length` bytes at `offset` from an object of only `size` bytes. */
export function tooShort(
  component: string,
  h: FileHandle,
  location: string,
  offset: number,
  length: number,
  size: number,
): LifeboatError {
  return new LifeboatError(
    'integrity',
    `[${component}] ${objectName(h)} at ${location} is too short: asked for ${length} bytes at offset ${offset}, it has ${size} (run \`lifeboat check\`)`,
  );
}
