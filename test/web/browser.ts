/**
 * @module test/web/browser
 * Debian's Chromium for the dashboard's end-to-end tests, driven by playwright-core (which
 * downloads no browser): a fresh profile, the page's errors and warnings collected, and
 * test steps that leave a screenshot and the page's text behind when they fail.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { it } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Screenshots; git ignores the folder. */
export const ARTIFACTS = resolve('test-artifacts/dashboard');

/** Why the browser tests cannot run here, or false. */
export const chromiumMissing: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing (install Debian's chromium package; .ci/run does)`;

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and warnings and uncaught page errors, as they happen. */
  problems: string[];
  close(): Promise<void>;
}

export async function openBrowser(options: { acceptDownloads?: boolean } = {}): Promise<Browser> {
  await mkdir(ARTIFACTS, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), 'lifeboat-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: options.acceptDownloads ?? false,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** `it`, but a failing step saves FAILED-<step>.png and prints the page's address and text. */
export function stepsOn(page: () => Page | undefined) {
  return (name: string, fn: () => Promise<void>) =>
    it(name, async () => {
      try {
        await fn();
      } catch (err) {
        const p = page();
        const path = join(ARTIFACTS, `FAILED-${name.replace(/\W+/g, '-')}.png`);
        await p?.screenshot({ path, fullPage: true }).catch(() => {});
        const text = await p
          ?.locator('body')
          .textContent()
          .catch(() => '');
        console.log(`failed at ${p?.url()}; screenshot ${path}; page text: ${text?.slice(0, 2000)}`);
        throw err;
      }
    });
}
