/**
 * @module byte-size-schema
 * Sizes and rates in lifeboat.yaml and the backends' settings, as zod schemas: the grammar of
 * byte-size.ts. Apart from it so that what parses a size on the command line loads no zod.
 */
import { z } from 'zod';
import { RATE_PATTERN, SIZE_PATTERN } from './byte-size.js';

/** A size in config: a number of bytes, or a string in the grammar of byte-size.ts. */
export const byteSizeSchema = z.union([
  z.number().int().min(0),
  z.string().regex(SIZE_PATTERN, 'expected a size such as 512MiB or 10GiB (units are powers of 1024)'),
]);

/** A rate in config: a number of KiB/s, or a size per second such as 2MiB. */
export const byteRateSchema = z.union([
  z.number().positive(),
  z.string().regex(RATE_PATTERN, 'expected KiB/s as a number, or a size per second such as 2MiB'),
]);
