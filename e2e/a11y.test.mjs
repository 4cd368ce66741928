// Accessibility: axe-core (the npm package, pinned) checks every view of
// the page, light and dark, at desktop and phone sizes, and fails on any
// violation. Each view is also saved as a screenshot under
// target/screenshots/, for a reviewer to look at.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startServer } from './support/server.mjs';
import { connected, launch, lines, sendFromForm } from './support/browser.mjs';
import { expect } from './support/expect.mjs';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'target', 'screenshots');

const SIZES = { desktop: { width: 1100, height: 760 }, phone: { width: 390, height: 844 } };

let browser;
let server;
before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await launch();
  server = await startServer();
  // A conversation to look at: people, the bot, a link, more than a screen.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(server.url);
  await connected(page);
  for (const [user, body] of [['ann', 'hello there?'], ['bob', 'see https://example.com/docs'], ['ann', 'thanks']]) {
    await sendFromForm(page, user, body);
  }
  await expect(() => lines(page), (seen) => seen.length >= 7);
  await context.close();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** axe-core's violations on `page`, as `id (impact): targets`. */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => axe.run());
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

for (const scheme of ['light', 'dark']) {
  for (const [size, viewport] of Object.entries(SIZES)) {
    test(`no axe-core violations in the group chat and the private tab, ${scheme}, ${size}`, async () => {
      // The page's policy forbids injected scripts; axe is one, for the test only.
      const context = await browser.newContext({ bypassCSP: true, colorScheme: scheme, viewport });
      const page = await context.newPage();
      await page.goto(server.url);
      await connected(page);
      await expect(() => lines(page), (seen) => seen.length >= 7);
      await sendFromForm(page, 'cy', 'my own line');
      await expect(() => lines(page), (seen) => seen.some((l) => l.body === 'my own line'));
      await page.screenshot({ path: join(SHOTS, `chat-${scheme}-${size}.png`) });
      const found = { chat: await violations(page) };
      await page.getByTestId('tab-bot').click();
      await page.getByTestId('bot-body').fill('hello bot?');
      await page.getByTestId('bot-body').press('Enter');
      await expect(() => page.getByTestId('bot-line').count(), (n) => n >= 2);
      await page.screenshot({ path: join(SHOTS, `bot-${scheme}-${size}.png`) });
      found.bot = await violations(page);
      assert.deepEqual(found, { chat: [], bot: [] });
      await context.close();
    });
  }
}
