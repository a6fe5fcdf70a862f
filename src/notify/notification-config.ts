/**
 * @module notify/notification-config
 * The `notifications:` entries of lifeboat.yaml: one channel each (webhook, Slack, email,
 * PagerDuty) and the alert kinds it receives. The config schema imports these.
 */
import { z } from 'zod';

/** What can go wrong, as named in a channel's `on:` list. */
export const ALERT_KINDS = [
  'failure',
  'rpo_breach',
  'duration_anomaly',
  'size_anomaly',
  'low_space',
  'check_failure',
  'drill_failure',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const CHANNEL_TYPES = ['webhook', 'slack', 'email', 'pagerduty'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

const httpUrl = z.string().regex(/^https?:\/\//, 'expected an http:// or https:// URL');
const on = z.array(z.enum(ALERT_KINDS)).optional();

export const webhookChannelSchema = z.strictObject({
  type: z.literal('webhook'),
  url: httpUrl,
  /** Signs each body: `X-Lifeboat-Signature: sha256=<HMAC-SHA256 of the body, hex>`. */
  secret: z.string().min(1).optional(),
  on,
});

export const slackChannelSchema = z.strictObject({
  type: z.literal('slack'),
  webhook_url: httpUrl,
  on,
});

export const emailChannelSchema = z.strictObject({
  type: z.literal('email'),
  /** smtp://user:password@host:587 (STARTTLS when offered) or smtps://host:465. */
  smtp_url: z.string().regex(/^smtps?:\/\//, 'expected an smtp:// or smtps:// URL'),
  from: z.string().min(1),
  to: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  on,
});

export const pagerdutyChannelSchema = z.strictObject({
  type: z.literal('pagerduty'),
  routing_key: z.string().min(1),
  /** The Events API v2 endpoint; tests and proxies point it elsewhere. */
  events_url: httpUrl.optional(),
  on,
});

const channelSchemas = [
  webhookChannelSchema,
  slackChannelSchema,
  emailChannelSchema,
  pagerdutyChannelSchema,
] as const;

/**
 * One `notifications:` entry. Checked in three steps so messages stay plain: `type` present,
 * then one of the known types, then that channel's own keys.
 */
export const notificationSchema = z
  .looseObject({ type: z.string() })
  .pipe(z.looseObject({ type: z.enum(CHANNEL_TYPES) }))
  .pipe(z.discriminatedUnion('type', channelSchemas))
  // The JSON Schema of a pipe shows only its first step; editors get each channel's keys here.
  .meta({
    oneOf: channelSchemas.map((s) => {
      const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'input' });
      return rest;
    }),
  });

export type WebhookChannelConfig = z.infer<typeof webhookChannelSchema>;
export type SlackChannelConfig = z.infer<typeof slackChannelSchema>;
export type EmailChannelConfig = z.infer<typeof emailChannelSchema>;
export type PagerdutyChannelConfig = z.infer<typeof pagerdutyChannelSchema>;
export type ChannelConfig =
  | WebhookChannelConfig
  | SlackChannelConfig
  | EmailChannelConfig
  | PagerdutyChannelConfig;
