/**
 * @module sources/command/command-schema
 * The command config schema, kept apart from the engine so the config file loads without it.
 */
import { z } from 'zod';
import { DURATION_PATTERN } from '../../config/duration.js';

/** An argv array run as is, or a string run by `/bin/sh -c`. */
const commandLine = z.union([
  z.string().min(1),
  z
    .array(z.string())
    .min(1)
    .refine((argv) => argv[0] !== '', 'expected the program first'),
]);

export const commandSourceSchema = z.object({
  type: z.literal('command'),
  /** What prints the data on stdout. */
  command: commandLine,
  /** Extra environment for both commands; every value is treated as a secret. */
  env: z.record(z.string(), z.string()).optional(),
  /** The artifact's file name in the snapshot (default: `<source>.out`). */
  artifact: z
    .string()
    .min(1)
    .refine((v) => !v.includes('/') && v !== '.' && v !== '..', 'expected a plain file name')
    .optional(),
  /** What reads the artifact on stdin to put it back. */
  restore_command: commandLine.optional(),
  /** Kill the command (and its children) after this long: 30s, 10m, 2h. */
  timeout: z.string().regex(DURATION_PATTERN, 'expected a duration such as 30s, 10m or 2h').optional(),
});

export type CommandSourceConfig = z.infer<typeof commandSourceSchema>;
