/**
 * @module notify/slack-channel
 * A Slack incoming webhook: one short message per event.
 */
import { z } from 'zod';
import { type AlertChannel, type AlertEvent, alertKindsSchema, kindFilter } from './channel.js';
import { eventLine, httpUrl, postJson, urlHost } from './channel-delivery.js';

export const slackChannelSchema = z.strictObject({
  type: z.literal('slack'),
  /** The incoming webhook's URL; its path is the secret. */
  webhook_url: httpUrl,
  on: alertKindsSchema,
});

export type SlackChannelConfig = z.infer<typeof slackChannelSchema>;

const ICON = { critical: ':rotating_light:', error: ':red_circle:', warning: ':warning:' } as const;

export function createSlackChannel(config: SlackChannelConfig): AlertChannel {
  return {
    type: 'slack',
    label: `slack ${urlHost(config.webhook_url)}`,
    accepts: kindFilter(config.on),
    async send(event: AlertEvent) {
      const icon = event.action === 'resolve' ? ':white_check_mark:' : ICON[event.alert.severity];
      const text = `${icon} ${eventLine(event)} (host ${event.origin.host}, repository ${event.origin.repository})`;
      await postJson('slack', config.webhook_url, JSON.stringify({ text }));
    },
  };
}
