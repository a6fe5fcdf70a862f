/**
 * @module sources/redis/redis-schema
 * The redis config schema, kept apart from the engine so the config file loads without its drivers.
 */
import { z } from 'zod';

const tlsSchema = z.strictObject({
  /** CA certificate(s): a PEM file path (or PEM text). */
  ca: z.string().min(1).optional(),
  /** Client certificate for mutual TLS. */
  cert: z.string().min(1).optional(),
  /** Client key for mutual TLS: a file path. */
  key: z.string().min(1).optional(),
  /** Name to check the server certificate against (default: the URL's host). */
  servername: z.string().min(1).optional(),
  /** Verify the server certificate (default true). */
  reject_unauthorized: z.boolean().optional(),
});

export const redisSourceSchema = z.object({
  type: z.literal('redis'),
  /** redis://[user:password@]host:port, or rediss:// for TLS. */
  url: z.string().regex(/^rediss?:\/\//, 'expected redis://[user:password@]host:port or rediss://...'),
  tls: tlsSchema.optional(),
});

export type RedisSourceConfig = z.infer<typeof redisSourceSchema>;
