/**
 * @module notify/channel
 * The contract every alert channel implements, and the registry keyed by `type`. A channel
 * sends one event (an alert firing, firing again, or resolved); the dispatcher decides when.
 */
import { describe, LifeboatError } from '../errors.js';
import { createEmailChannel } from './email-channel.js';
import type { AlertKind, ChannelConfig } from './notification-config.js';
import { createPagerdutyChannel } from './pagerduty-channel.js';
import { createSlackChannel } from './slack-channel.js';
import { createWebhookChannel } from './webhook-channel.js';

export interface AlertEvent {
  /** trigger: the alert holds (first time, or a repeat); resolve: it cleared. */
  action: 'trigger' | 'resolve';
  /** A reminder of an alert already sent. */
  repeat: boolean;
  alert: {
    key: string;
    kind: AlertKind;
    source: string | null;
    severity: 'critical' | 'error' | 'warning';
    summary: string;
    details: Record<string, unknown>;
    first_at: string;
    resolved_at: string | null;
  };
  time: string;
  /** Which server sent it: its host and the repository (credentials removed). */
  origin: { host: string; repository: string; repository_id: string };
}

export interface AlertChannel {
  readonly type: ChannelConfig['type'];
  /** For logs: the type and host it posts to, never a secret. */
  readonly label: string;
  accepts(kind: AlertKind): boolean;
  /** Delivers the event; MUST reject (code notify_failed) when the receiver did not accept it. */
  send(event: AlertEvent): Promise<void>;
  close?(): void;
}

export const SEND_TIMEOUT_MS = 10_000;

export function createChannel(config: ChannelConfig): AlertChannel {
  switch (config.type) {
    case 'webhook':
      return createWebhookChannel(config);
    case 'slack':
      return createSlackChannel(config);
    case 'email':
      return createEmailChannel(config);
    case 'pagerduty':
      return createPagerdutyChannel(config);
  }
}

/** A channel's `on:` list as a predicate; no list means every kind. */
export function kindFilter(on: readonly AlertKind[] | undefined): (kind: AlertKind) => boolean {
  return (kind) => !on || on.includes(kind);
}

/** `https://hooks.slack.com`: where a URL points, without its path (which may be a secret). */
export function urlHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'an invalid URL';
  }
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
