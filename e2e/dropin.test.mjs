// chat-server as a drop-in for Node's socket.io server: it serves the
// official browser client at /socket.io/socket.io.js, and the pages written
// for the tutorial's server and for Botmaster, exactly as the seeds print
// them (e2e/fixtures/seed-pages), and the page of the published Botmaster
// 3's own Readme, chat with it unchanged in Chromium.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startServer } from './support/server.mjs';
import { launch, openPage } from './support/browser.mjs';
import { expect } from './support/expect.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const PAGES = join(HERE, 'fixtures', 'seed-pages');
const SEEDS = join(HERE, '..', '..', 'shared', 'seeds');
const CLIENT_DIST = join(HERE, 'node_modules', 'socket.io', 'client-dist');

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const open = (url) => openPage(browser, url);

describe('the official client bundle', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test('is served at the paths Node serves it, byte for byte the pinned npm package', async () => {
    for (const file of ['socket.io.js', 'socket.io.min.js', 'socket.io.js.map', 'socket.io.min.js.map']) {
      const response = await fetch(`${server.url}/socket.io/${file}`);
      assert.equal(response.status, 200, file);
      assert.match(response.headers.get('content-type'), file.endsWith('.map') ? /^application\/json/ : /^application\/javascript/);
      assert.equal(response.headers.get('etag'), '"4.8.4"');
      const served = Buffer.from(await response.arrayBuffer());
      assert.ok(served.equals(readFileSync(join(CLIENT_DIST, file))), `${file} equals socket.io's client-dist`);
    }
    const again = await fetch(`${server.url}/socket.io/socket.io.js`, { headers: { 'if-none-match': '"4.8.4"' } });
    assert.equal(again.status, 304);
  });
});

test('the page files are the seeds, verbatim', { skip: !existsSync(SEEDS) && 'the seeds are not beside this checkout' }, () => {
  const tutorial = readFileSync(join(SEEDS, 'linode-socketio-chat-tutorial.md'), 'utf8');
  for (const name of ['index.html', 'main.js', 'main.css']) {
    const match = tutorial.match(new RegExp(`^( *)\`\`\`file \\{title="socket-example/public/${name.replace('.', '\\.')}"[^\\n]*\\n([\\s\\S]*?)^\\1\`\`\``, 'm'));
    const indent = match[1];
    const block = match[2].split('\n').map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line)).join('\n');
    assert.equal(readFileSync(join(PAGES, 'tutorial', name), 'utf8'), block, name);
  }
  const botmaster = readFileSync(join(SEEDS, 'botmaster-socketio-setup.md'), 'utf8');
  const blocks = [...botmaster.matchAll(/^```(\w+)\n([\s\S]*?)^```/gm)].map((m) => ({ kind: m[1], text: m[2] }));
  assert.equal(readFileSync(join(PAGES, 'botmaster', 'index.html'), 'utf8'), blocks.find((b) => b.kind === 'html').text);
  assert.equal(readFileSync(join(PAGES, 'botmaster', 'style.css'), 'utf8'), blocks.find((b) => b.kind === 'css').text);
  assert.equal(
    readFileSync(join(PAGES, 'botmaster', 'client_app.js'), 'utf8'),
    blocks.find((b) => b.kind === 'js' && b.text.includes('insertAdjacentHTML')).text,
  );
});

describe("the tutorial's page", () => {
  let server;
  before(async () => { server = await startServer({ dist: join(PAGES, 'tutorial') }); });
  after(async () => { await server?.stop(); });

  /** What the page lists: each line's text and whether it is the bot's. */
  const listed = (page) => page.locator('#messageField > li').evaluateAll((items) =>
    items.map((li) => ({ text: li.textContent, bot: li.classList.contains('botMessage') })));

  test('two tabs chat and see the bot, unchanged, under our Content-Security-Policy', async () => {
    const a = await open(server.url);
    const b = await open(server.url);
    await expect(() => a.evaluate(() => window.socket?.connected === true), (ok) => ok);
    await expect(() => b.evaluate(() => window.socket?.connected === true), (ok) => ok);
    await a.fill('#messageUser', 'ann');
    await a.fill('#messageBody', 'hello there?');
    await a.click('#send');
    const expected = [
      { text: 'ann: hello there?', bot: false },
      { text: 'ChatFriend: Hello, ann!', bot: true },
      { text: 'ChatFriend: We will be right with you to answer your question.', bot: true },
    ];
    for (const page of [a, b]) {
      await expect(() => listed(page), (lines) => lines.length === 3);
      assert.deepEqual(await listed(page), expected);
    }
    await a.click('#send');
    assert.equal(await a.textContent('#errorMessage'), 'Please complete the form to send a message');
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.context().close();
    await b.context().close();
  });

  test('HTML the page injects cannot run a script: the policy stops it', async () => {
    const a = await open(server.url);
    await expect(() => a.evaluate(() => window.socket?.connected === true), (ok) => ok);
    await a.fill('#messageUser', 'mallory');
    await a.fill('#messageBody', '<img src="/nothing.png" onerror="window.pwned = true">');
    await a.click('#send');
    await expect(() => a.locator('#messageField img').count(), (n) => n === 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await a.evaluate(() => window.pwned), undefined, 'the injected handler never ran');
    assert.ok(a.problems.some((p) => p.startsWith('CSP:')), 'the browser reported the blocked handler');
    await a.context().close();
  });
});

/**
 * Two tabs of a Botmaster page (client_app.js's form) at `url`, connected;
 * `beforeSending` runs in each; the first asks "hello bot?" and both show
 * the rule bot's two answers. Resolves the two pages.
 */
async function twoTabsAskTheBot(url, beforeSending = async () => {}) {
  const tabs = [await open(url), await open(url)];
  for (const page of tabs) {
    await expect(() => page.evaluate(() => socket.connected === true), (ok) => ok);
    await beforeSending(page);
  }
  await tabs[0].fill('#text-input', 'hello bot?');
  await tabs[0].press('#text-input', 'Enter');
  const bot = (page) => page.locator('#messages .botmaster-message').allTextContents();
  for (const page of tabs) {
    await expect(() => bot(page), (lines) => lines.length === 2);
    assert.deepEqual(await bot(page), ['Hello, wantedUserId!', 'We will be right with you to answer your question.']);
  }
  return tabs;
}

describe("Botmaster's page", () => {
  let server;
  before(async () => {
    server = await startServer({ dist: join(PAGES, 'botmaster'), args: ['--insecure-trust-client-ids'] });
  });
  after(async () => { await server?.stop(); });

  test('two tabs of one user both get the bot reply, unchanged', async () => {
    const [a, b] = await twoTabsAskTheBot(server.url);
    assert.deepEqual(await a.locator('#messages .user-message').allTextContents(), ['hello bot?']);
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.context().close();
    await b.context().close();
  });
});

/**
 * The page of botmaster-socket.io's own Readme (the npm package, pinned in
 * package.json), written for Botmaster 3: it sends objects and reads them.
 * Taken out of the Readme as it is, into a folder to serve.
 */
function botmaster3Page() {
  const readme = readFileSync(join(HERE, 'node_modules', 'botmaster-socket.io', 'Readme.md'), 'utf8');
  const html = readme.slice(readme.indexOf('```html\n') + 8, readme.indexOf('</html>') + 8);
  const blocks = [...readme.matchAll(/^```(\w+)\n([\s\S]*?)^```/gm)].map((m) => ({ kind: m[1], text: m[2] }));
  const js = blocks.find((b) => b.kind === 'js' && b.text.includes('form.onsubmit')).text;
  const css = blocks.find((b) => b.kind === 'css').text;
  assert.match(js, /socket\.send\(update\)/);
  assert.match(js, /botmasterMessage\.message\.text/);
  const dir = mkdtempSync(join(tmpdir(), 'botmaster3-page-'));
  writeFileSync(join(dir, 'index.html'), html);
  writeFileSync(join(dir, 'client_app.js'), js);
  writeFileSync(join(dir, 'style.css'), css);
  return dir;
}

describe("Botmaster 3's documented page, which speaks objects", () => {
  let server;
  let dir;
  before(async () => {
    dir = botmaster3Page();
    server = await startServer({ dist: dir, args: ['--insecure-trust-client-ids'] });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('two tabs of one user both get the bot reply as objects, unchanged', async () => {
    const seen = (page) => page.evaluate(() => {
      window.seen = [];
      socket.on('message', (payload) => window.seen.push(typeof payload));
    });
    const [a, b] = await twoTabsAskTheBot(server.url, seen);
    for (const page of [a, b]) {
      assert.deepEqual(await page.evaluate(() => window.seen), ['object', 'object']);
    }
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.context().close();
    await b.context().close();
  });
});
