/**
 * @module notify/channel
 * The contract every alert channel (webhook, Slack, email, PagerDuty) implements. A channel
 * delivers one event (an alert firing, firing again, or resolved) to one receiver; the
 * dispatcher decides when, and the registry (channel-registry.ts) builds channels from the
 * config. The shared suite in testing/channel-contract.ts checks every rule below.
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

/** The `on:` key every channel takes: the alert kinds it receives (absent: every kind). */
export const alertKindsSchema = z.array(z.enum(ALERT_KINDS)).optional();

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

/** How long one delivery may take before it fails, connection and answer included. */
export const SEND_TIMEOUT_MS = 10_000;

export interface AlertChannel {
  /** The `type` of its config entry. */
  readonly type: string;

  /**
   * For logs and messages: the type and the host it delivers to (`webhook https://hooks.example`).
   * MUST NOT hold a secret: no URL path or query (a Slack webhook's path is its key), no
   * credentials, no routing key.
   */
  readonly label: string;

  /** Whether events of `kind` go to this channel: its `on:` list, or every kind without one. */
  accepts(kind: AlertKind): boolean;

  /**
   * Delivers the event. MUST resolve only once the receiver has accepted it (an HTTP 2xx, an
   * SMTP 250), and MUST otherwise reject with code 'notify_failed', retryable when trying
   * again may help (the receiver was unreachable or answered 5xx or 429). MUST give up
   * within SEND_TIMEOUT_MS. Its messages MUST NOT hold a secret, as `label`. What reaches the
   * receiver names the alert: its summary (trigger) or its key (resolve).
   */
  send(event: AlertEvent): Promise<void>;

  /** Releases connections (an SMTP pool); optional, and safe to call when nothing was sent. */
  close?(): void;
}

/** A channel's `on:` list as a predicate; no list means every kind. */
export function kindFilter(on: readonly AlertKind[] | undefined): (kind: AlertKind) => boolean {
  return (kind) => !on || on.includes(kind);
}
