/**
 * @module cli/recovery-settings
 * The command line's side of the recovery settings (jobs/pitr-settings.ts): made from the
 * command's config and environment, and read back into a context that opens the repository
 * they name.
 */
import {
  type RecoverySettings,
  recoverySettings as settingsFor,
  settingsRepository,
} from '../jobs/pitr-settings.js';
import type { CliContext } from './context.js';

export { type RecoverySettings, readRecoverySettings } from '../jobs/pitr-settings.js';

/** The settings for a restore made with `ctx` (jobs/pitr-settings recoverySettings). */
export function recoverySettings(ctx: CliContext, configFile: string | undefined): RecoverySettings {
  return settingsFor(ctx.config, ctx.env, configFile);
}

/** `ctx` reading the repository the settings name, its password got their way. */
export function settingsContext(ctx: CliContext, s: RecoverySettings): CliContext {
  return ctx.withRepository(settingsRepository(s));
}
