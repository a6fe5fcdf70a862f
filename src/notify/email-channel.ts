/**
 * @module notify/email-channel
 * Email over SMTP (nodemailer): one message per event. The transport is made on first use
 * and kept, so a burst of alerts reuses one connection pool.
 */
import type { Transporter, TransportOptions } from 'nodemailer';
import { z } from 'zod';
import { describe, LifeboatError } from '../errors.js';
import {
  type AlertChannel,
  type AlertEvent,
  alertKindsSchema,
  kindFilter,
  SEND_TIMEOUT_MS,
} from './channel.js';
import { eventLine, urlHost } from './channel-delivery.js';

export const emailChannelSchema = z.strictObject({
  type: z.literal('email'),
  /** smtp://user:password@host:587 (STARTTLS when offered) or smtps://host:465. */
  smtp_url: z.string().regex(/^smtps?:\/\//, 'expected an smtp:// or smtps:// URL'),
  from: z.string().min(1),
  to: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  on: alertKindsSchema,
});

export type EmailChannelConfig = z.infer<typeof emailChannelSchema>;

export function createEmailChannel(config: EmailChannelConfig): AlertChannel {
  let transport: Transporter | undefined;
  const host = urlHost(config.smtp_url);
  return {
    type: 'email',
    label: `email ${host}`,
    accepts: kindFilter(config.on),
    async send(event: AlertEvent) {
      // Loaded on first use: a server without an email channel does not carry nodemailer.
      const { default: nodemailer } = await import('nodemailer');
      // `url` carries host, port, TLS and credentials; nodemailer parses it.
      transport ??= nodemailer.createTransport({
        url: config.smtp_url,
        connectionTimeout: SEND_TIMEOUT_MS,
        greetingTimeout: SEND_TIMEOUT_MS,
        socketTimeout: SEND_TIMEOUT_MS,
      } as TransportOptions);
      const a = event.alert;
      const text = [
        eventLine(event),
        '',
        `kind:       ${a.kind}`,
        `subject:    ${a.source ?? 'repository'}`,
        `severity:   ${a.severity}`,
        `since:      ${a.first_at}`,
        ...(a.resolved_at ? [`resolved:   ${a.resolved_at}`] : []),
        `host:       ${event.origin.host}`,
        `repository: ${event.origin.repository}`,
        '',
        JSON.stringify(a.details, null, 2),
      ].join('\n');
      try {
        await transport.sendMail({
          from: config.from,
          to: config.to,
          subject: eventLine(event).slice(0, 200),
          text,
          headers: { 'X-Lifeboat-Alert': a.key, 'X-Lifeboat-Event': event.action },
        });
      } catch (err) {
        throw new LifeboatError(
          'notify_failed',
          `[notify:email] cannot send through ${host}: ${describe(err)} (check smtp_url and the mail server)`,
          { cause: err, retryable: true },
        );
      }
    },
    close() {
      transport?.close();
    },
  };
}
