/**
 * @module notify/slack-channel
 * A Slack incoming webhook: one short message per event.
 */
import { type AlertChannel, type AlertEvent, kindFilter, postJson, urlHost } from './channel.js';
import type { SlackChannelConfig } from './notification-config.js';

const ICON = { critical: ':rotating_light:', error: ':red_circle:', warning: ':warning:' } as const;

/** The line every text channel uses: `[lifeboat] FIRING rpo_breach app-db: ...`. */
export function eventLine(event: AlertEvent): string {
  const state = event.action === 'resolve' ? 'RESOLVED' : event.repeat ? 'STILL FIRING' : 'FIRING';
  const subject = event.alert.source ?? 'repository';
  return `[lifeboat] ${state} ${event.alert.kind} ${subject}: ${event.alert.summary}`;
}

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
