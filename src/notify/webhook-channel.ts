/**
 * @module notify/webhook-channel
 * A generic webhook: the event as JSON, signed with HMAC-SHA256 of the exact body when a
 * secret is set (`X-Lifeboat-Signature: sha256=<hex>`), so the receiver can check it came
 * from this server and was not altered.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { type AlertChannel, type AlertEvent, alertKindsSchema, kindFilter } from './channel.js';
import { httpUrl, postJson, urlHost } from './channel-delivery.js';

export const webhookChannelSchema = z.strictObject({
  type: z.literal('webhook'),
  url: httpUrl,
  /** Signs each body: `X-Lifeboat-Signature: sha256=<HMAC-SHA256 of the body, hex>`. */
  secret: z.string().min(1).optional(),
  on: alertKindsSchema,
});

export type WebhookChannelConfig = z.infer<typeof webhookChannelSchema>;

export const SIGNATURE_HEADER = 'x-lifeboat-signature';

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function createWebhookChannel(config: WebhookChannelConfig): AlertChannel {
  return {
    type: 'webhook',
    label: `webhook ${urlHost(config.url)}`,
    accepts: kindFilter(config.on),
    async send(event: AlertEvent) {
      const body = JSON.stringify({ version: 1, ...event });
      const headers: Record<string, string> = { 'x-lifeboat-event': event.action };
      if (config.secret) headers[SIGNATURE_HEADER] = signBody(config.secret, body);
      await postJson('webhook', config.url, body, headers);
    },
  };
}
