/**
 * @module sources/mysql/mysql-schema
 * The mysql config schema, kept apart from the engine so the config file loads without its drivers.
 */
import { z } from 'zod';
import { mysqlUrlProblem } from './mysql-url.js';

const url = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    const problem = mysqlUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const settings = {
  /** mysql://user:password@host:port/database, or ...@localhost/database?socket=/path. */
  url,
  /** Databases to back up, one snapshot each ("<source>/<db>"); `all` = every non-system one. */
  databases: z.union([z.array(z.string().min(1)).min(1), z.literal('all')]).optional(),
};

export const mysqlSourceSchema = z.object({ type: z.literal('mysql'), ...settings });
/** `type: mariadb` is the same engine under its other name. */
export const mariadbSourceSchema = z.object({ type: z.literal('mariadb'), ...settings });

export type MysqlSourceConfig = z.infer<typeof mysqlSourceSchema> | z.infer<typeof mariadbSourceSchema>;
