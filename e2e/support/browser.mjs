// Headless Chromium from the system (Debian's `chromium` package), driven by
// playwright-core, which never downloads a browser of its own.
import { chromium } from 'playwright-core';

const EXECUTABLE = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Without the networking flags Chromium keeps dialling Google's services,
// which a machine without internet refuses, many times a second.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches headless Chromium. */
export function launch() {
  return chromium.launch({ executablePath: EXECUTABLE, args: ARGS, headless: true });
}

/**
 * Opens `url` in a new page that collects, in `page.problems`, every
 * JavaScript dialog (an injected alert), page error and Content Security
 * Policy violation (the server's policy must let the page do all it does).
 */
export async function openPage(browser, url, { viewport = { width: 900, height: 700 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.problems = [];
  page.on('dialog', async (dialog) => {
    page.problems.push(`dialog: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) page.problems.push(`CSP: ${message.text()}`);
  });
  await page.goto(url);
  return page;
}

/** Opens the chat at `url` (see [openPage]) and waits until it is connected. */
export async function openChat(browser, url, options = {}) {
  const page = await openPage(browser, url, options);
  await connected(page);
  return page;
}

/** Waits until the page says it is connected. */
export function connected(page, timeout = 15_000) {
  return page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor({ timeout });
}

/** Types a name and a message and presses Send. */
export async function sendFromForm(page, user, body) {
  await page.getByTestId('name').fill(user);
  await page.getByTestId('body').fill(body);
  await page.getByTestId('send').click();
}

/** The list's lines so far, as {author, body, bot, time}. */
export function lines(page) {
  return page.getByTestId('message').evaluateAll((items) => items.map((li) => ({
    author: li.querySelector('.author')?.textContent,
    body: li.querySelector('.body')?.textContent,
    bot: li.classList.contains('bot-message'),
    time: li.querySelector('time')?.textContent,
  })));
}
