/**
 * @module jobs/fleet/fleet-settings
 * Fleet mode's settings as the CLI reads them (`server.fleet`, `--labels`), apart from the
 * fleet queue so that reading them loads neither pg nor pg-boss.
 */
import type { LifeboatConfig } from '../../config/config.js';
import { parseDuration } from '../../config/duration.js';
import { LifeboatError } from '../../errors.js';
import type { FleetQueueOptions, Labels } from './fleet-queue.js';

/** The fleet queue's settings from `server.fleet`; `url` is the PostgreSQL catalog's. */
export function fleetQueueOptions(config: LifeboatConfig, url: string): FleetQueueOptions {
  const f = config.server?.fleet ?? {};
  const seconds = (d: string | undefined) => (d === undefined ? undefined : parseDuration(d) / 1000);
  return {
    url,
    leaseSeconds: seconds(f.lease),
    pollSeconds: seconds(f.poll),
    retryLimit: f.retries,
    retryDelaySeconds: seconds(f.retry_delay),
  };
}

/** `k=v,k2=v2` (the worker's --labels) as labels; a usage error names a malformed pair. */
export function parseLabels(text: string): Labels {
  const labels: Labels = {};
  for (const pair of text.split(',').filter((p) => p.trim() !== '')) {
    const at = pair.indexOf('=');
    if (at <= 0) {
      throw new LifeboatError(
        'usage',
        `[worker] label "${pair}" is not key=value (e.g. --labels host=db1,zone=a)`,
      );
    }
    labels[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return labels;
}

/** Labels as `--labels` takes them (`host=db1,zone=a`), or `none`. */
export function labelsText(labels: Labels): string {
  return (
    Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || 'none'
  );
}

/**
 * Whether a process offering `offered` runs a source's jobs (its `runs_on` all among them);
 * the fleet queue's routing rule, here without loading pg.
 */
export function runsSource(config: LifeboatConfig, source: string, offered: Labels): boolean {
  const wanted = Object.hasOwn(config.sources, source) ? (config.sources[source].runs_on ?? {}) : {};
  return Object.entries(wanted).every(([k, v]) => offered[k] === v);
}
