/**
 * @module notify/pagerduty-channel
 * PagerDuty Events API v2: `trigger` while an alert holds (repeats reuse its dedup_key, so
 * PagerDuty keeps one incident), `resolve` when it clears.
 */
import { z } from 'zod';
import { type AlertChannel, type AlertEvent, alertKindsSchema, kindFilter } from './channel.js';
import { httpUrl, postJson, urlHost } from './channel-delivery.js';

export const pagerdutyChannelSchema = z.strictObject({
  type: z.literal('pagerduty'),
  routing_key: z.string().min(1),
  /** The Events API v2 endpoint; tests and proxies point it elsewhere. */
  events_url: httpUrl.optional(),
  on: alertKindsSchema,
});

export type PagerdutyChannelConfig = z.infer<typeof pagerdutyChannelSchema>;

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

/** One incident per alert and repository: `lifeboat:<repository id prefix>:<alert key>`. */
export function dedupKey(event: AlertEvent): string {
  return `lifeboat:${event.origin.repository_id.slice(0, 8)}:${event.alert.key}`;
}

export function createPagerdutyChannel(config: PagerdutyChannelConfig): AlertChannel {
  const url = config.events_url ?? PAGERDUTY_EVENTS_URL;
  return {
    type: 'pagerduty',
    label: `pagerduty ${urlHost(url)}`,
    accepts: kindFilter(config.on),
    async send(event: AlertEvent) {
      const body =
        event.action === 'resolve'
          ? { routing_key: config.routing_key, event_action: 'resolve', dedup_key: dedupKey(event) }
          : {
              routing_key: config.routing_key,
              event_action: 'trigger',
              dedup_key: dedupKey(event),
              payload: {
                summary: `[lifeboat] ${event.alert.summary}`.slice(0, 1024),
                source: event.origin.host,
                severity: event.alert.severity,
                component: event.alert.source ?? 'repository',
                group: event.origin.repository,
                class: event.alert.kind,
                timestamp: event.time,
                custom_details: event.alert.details,
              },
            };
      await postJson('pagerduty', url, JSON.stringify(body));
    },
  };
}
