/**
 * @module test/server/lockout
 * A stranger sends bad tokens from the address every user shares (a reverse proxy, or the
 * same machine): the limit must throttle the stranger's failures, never the valid tokens
 * from that address. Behind a trusted proxy the client address comes from X-Forwarded-For;
 * from anyone else that header is ignored, so it cannot be used to dodge the limit.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { type Harness, startHarness } from './harness.js';

const SOURCES = `
sources:
  docs:
    type: files
    path: $DIR/docs
`;

async function get(h: Harness, token: string, forwardedFor?: string): Promise<number> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (forwardedFor) headers['x-forwarded-for'] = forwardedFor;
  const res = await fetch(`${h.base}/api/whoami`, { headers });
  await res.arrayBuffer();
  return res.status;
}

describe('server: failed-login limit', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  after(async () => {
    await h?.close();
  });

  it('throttles bad tokens from an address but lets its valid tokens through', async () => {
    h = await startHarness({ config: SOURCES, files: { 'docs/a.txt': 'a\n' } });
    for (let i = 0; i < 10; i++) assert.equal(await get(h, `lb_wrong${i}`), 401);
    assert.equal(await get(h, 'lb_wrong-again'), 429);
    // Without a trusted proxy, X-Forwarded-For is the stranger's word, not an address.
    assert.equal(await get(h, 'lb_wrong-spoofed', '198.51.100.7'), 429);
    assert.equal(await get(h, h.tokens.viewer), 200, 'a valid token was locked out');
    assert.equal(await get(h, h.tokens.admin), 200);
    h.clock.tick(61_000);
    assert.equal(await get(h, 'lb_wrong-later'), 401);
  });

  it('counts the client behind a trusted proxy, not the proxy', async () => {
    h = await startHarness({
      config: `${SOURCES}\nserver:\n  trusted_proxies: [127.0.0.1/32, "::1"]\n`,
      files: { 'docs/a.txt': 'a\n' },
    });
    for (let i = 0; i < 10; i++) assert.equal(await get(h, `lb_wrong${i}`, '203.0.113.5'), 401);
    assert.equal(await get(h, 'lb_wrong', '203.0.113.5'), 429);
    assert.equal(await get(h, 'lb_wrong', '203.0.113.6'), 401, 'another client behind the proxy was blocked');
    assert.equal(await get(h, h.tokens.viewer, '203.0.113.6'), 200);
    assert.equal(await get(h, h.tokens.viewer, '203.0.113.5'), 200);
    assert.match(h.logs(), /"ip":"203\.0\.113\.5".*rejected an invalid token/);
  });
});
