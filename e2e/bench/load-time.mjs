// How long the page takes from navigation to "Connected" on loopback, in
// headless Chromium, against the real binary and the release bundle: the
// median and worst of 15 loads, each in a fresh browser context (no cache),
// then 15 more with the cache warm (a returning visitor). Run by
// `cargo xtask bench`, or: CHAT_SERVER_BIN=… DIST_DIR=… node e2e/bench/load-time.mjs
import { launch } from '../support/browser.mjs';
import { startServer } from '../support/server.mjs';

const LOADS = 15;

function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], worst: sorted.at(-1) };
}

/** Milliseconds from navigation start until the page says it is connected. */
async function loadOnce(page, url) {
  await page.goto(url);
  await page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor({ timeout: 15_000 });
  return page.evaluate(() => performance.now());
}

const server = await startServer();
const browser = await launch();
try {
  const cold = [];
  for (let i = 0; i < LOADS; i += 1) {
    const context = await browser.newContext();
    cold.push(await loadOnce(await context.newPage(), server.url));
    await context.close();
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  await loadOnce(page, server.url);
  const warm = [];
  for (let i = 0; i < LOADS; i += 1) warm.push(await loadOnce(page, server.url));
  await context.close();
  const round = (value) => Math.round(value);
  const [c, w] = [summary(cold), summary(warm)];
  console.log(`load to connected: cold median ${round(c.median)} ms (worst ${round(c.worst)}), warm median ${round(w.median)} ms (worst ${round(w.worst)})`);
} finally {
  await browser.close();
  await server.stop();
}
