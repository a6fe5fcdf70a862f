/**
 * @module notify/channel-registry
 * Alert channels keyed by `type`: each one's config schema (which the `notifications:`
 * entries of the config are built from) and its factory. Adding a channel means its module
 * (schema and factory, testing/channel-contract.ts in its test) and one entry here.
 */
import type { z } from 'zod';
import { type AlertChannel, alertKindsSchema, kindFilter } from './channel.js';
import { createEmailChannel, emailChannelSchema } from './email-channel.js';
import { createPagerdutyChannel, pagerdutyChannelSchema } from './pagerduty-channel.js';
import { createSlackChannel, slackChannelSchema } from './slack-channel.js';
import { createWebhookChannel, webhookChannelSchema } from './webhook-channel.js';

interface ChannelKind<S extends z.ZodObject> {
  schema: S;
  create(config: z.infer<S>): AlertChannel;
}

function kind<S extends z.ZodObject>(
  schema: S,
  create: (config: z.infer<S>) => AlertChannel,
): ChannelKind<S> {
  return { schema, create };
}

const channels = {
  webhook: kind(webhookChannelSchema, createWebhookChannel),
  slack: kind(slackChannelSchema, createSlackChannel),
  email: kind(emailChannelSchema, createEmailChannel),
  pagerduty: kind(pagerdutyChannelSchema, createPagerdutyChannel),
};

export type ChannelType = keyof typeof channels;

/** One `notifications:` entry, whichever its type. */
export type ChannelConfig = { [T in ChannelType]: z.infer<(typeof channels)[T]['schema']> }[ChannelType];

export const CHANNEL_TYPES = Object.keys(channels) as [ChannelType, ...ChannelType[]];

/** Each channel's config schema, in CHANNEL_TYPES order; each has a literal `type` key. */
type ChannelSchema = (typeof channels)[ChannelType]['schema'];
export const channelSchemas = CHANNEL_TYPES.map((t) => channels[t].schema) as [
  ChannelSchema,
  ...ChannelSchema[],
];

/** The channel a `notifications:` entry (validated by the config schema) describes. */
export function createChannel(config: ChannelConfig): AlertChannel {
  return (channels[config.type] as ChannelKind<z.ZodObject>).create(config);
}

/**
 * A `notifications:` entry whose settings use an unset variable: it receives what its `on:`
 * asks for and fails each send with `error`, which names the variable (config/config).
 */
export function unsetChannel(config: ChannelConfig, position: number, error: Error): AlertChannel {
  const on = alertKindsSchema.safeParse(config.on);
  return {
    type: config.type,
    label: `${config.type} (notifications.${position})`,
    accepts: kindFilter(on.success ? on.data : undefined),
    async send() {
      throw error;
    },
  };
}
