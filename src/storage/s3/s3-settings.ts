/**
 * @module storage/s3/s3-settings
 * The s3 backend's settings, `repository.s3` in lifeboat.yaml: the one description of them.
 * The config schema, the backend's settings type and the JSON Schema editors get (with these
 * descriptions) all come from it. Kept apart from the backend so the config loads without
 * the AWS SDK.
 */
import { z } from 'zod';
import { byteSizeSchema } from '../../byte-size-schema.js';

const text = z.string().min(1);

export const s3SettingsSchema = z.strictObject({
  endpoint: z
    .string()
    .url()
    .optional()
    .describe('Endpoint URL of an S3-compatible store; else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS.'),
  region: text
    .optional()
    .describe("Else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, or us-east-1."),
  path_style: z
    .boolean()
    .optional()
    .describe('Path-style addressing (http://host/bucket/key); also LIFEBOAT_S3_PATH_STYLE=1.'),
  profile: text
    .optional()
    .describe('A profile of ~/.aws/config and ~/.aws/credentials; else AWS_PROFILE or "default".'),
  access_key_id: text
    .optional()
    .describe('Static credentials; else the standard AWS chain (environment, profile, SSO, instance role).'),
  secret_access_key: text.optional().describe('Goes with access_key_id.'),
  session_token: text.optional().describe('Goes with access_key_id, for temporary credentials.'),
  storage_class: text
    .optional()
    .describe('Storage class of packs (STANDARD_IA, INTELLIGENT_TIERING, ...); metadata stays STANDARD.'),
  sse: z
    .enum(['AES256', 'aws:kms'])
    .optional()
    .describe("Server-side encryption: 'AES256' (SSE-S3) or 'aws:kms' (SSE-KMS, with sse_kms_key_id)."),
  sse_kms_key_id: text.optional().describe('The KMS key of sse: aws:kms.'),
  immutable_days: z
    .number()
    .int()
    .min(1)
    .max(36500)
    .optional()
    .describe('Object Lock: write objects (but locks) under retention for this many days.'),
  immutable_mode: z
    .enum(['governance', 'compliance'])
    .optional()
    .describe('Object Lock mode of immutable_days (default governance).'),
  page_size: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .describe('Keys per listing request (default 1000, the S3 maximum).'),
  part_size: byteSizeSchema
    .optional()
    .describe('Objects larger than this go up as multipart uploads with parts of this size (default 8MiB).'),
  create_bucket: z
    .boolean()
    .optional()
    .describe('Create the bucket on init when it is missing (default true).'),
  conditional_writes: z
    .boolean()
    .optional()
    .describe(
      'The store honours If-None-Match and If-Match on PutObject, so prune --grace takes a lease (default: true on AWS, false with a custom endpoint).',
    ),
});

export type S3Settings = z.input<typeof s3SettingsSchema>;
