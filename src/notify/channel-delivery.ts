/**
 * @module notify/channel-delivery
 * What the channels share to deliver: a JSON POST with a deadline whose failures name the
 * host and the status but never the URL's path, a URL's host for labels, and the one line of
 * text that names an event in chat and mail.
 */
import { z } from 'zod';
import { describe, LifeboatError } from '../errors.js';
import { type AlertEvent, SEND_TIMEOUT_MS } from './channel.js';

/** A receiver's URL in a channel's config. */
export const httpUrl = z.string().regex(/^https?:\/\//, 'expected an http:// or https:// URL');

/** `https://hooks.slack.com`: where a URL points, without its path (which may be a secret). */
export function urlHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'an invalid URL';
  }
}

/** The line every text channel uses: `[lifeboat] FIRING rpo_breach app-db: ...`. */
export function eventLine(event: AlertEvent): string {
  const state = event.action === 'resolve' ? 'RESOLVED' : event.repeat ? 'STILL FIRING' : 'FIRING';
  const subject = event.alert.source ?? 'repository';
  return `[lifeboat] ${state} ${event.alert.kind} ${subject}: ${event.alert.summary}`;
}

/** POSTs a body; a non-2xx answer or a network failure rejects with the status, never the URL path. */
export async function postJson(
  component: string,
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'lifeboat', ...headers },
      body,
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    throw new LifeboatError(
      'notify_failed',
      `[notify:${component}] cannot reach ${urlHost(url)}: ${describe(cause ?? err)} (check the URL and the network)`,
      { cause: err, retryable: true },
    );
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) {
    throw new LifeboatError(
      'notify_failed',
      `[notify:${component}] ${urlHost(url)} answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
      { retryable: res.status >= 500 || res.status === 429 },
    );
  }
}
