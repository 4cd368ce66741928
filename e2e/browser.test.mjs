// The real bundle served by the real backend, used through headless Chromium
// the way a person would use it.
import { after, afterEach, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { expect } from './support/expect.mjs';

import { startServer } from './support/server.mjs';
import { connected, launch, lines, openChat, sendFromForm } from './support/browser.mjs';

const QUESTION_REPLIES = ['Hello, ann!', 'We will be right with you to answer your question.'];

let server;
let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});
// A fresh server (and history) for every test, so what one test sent is not
// in the next one's history.
beforeEach(async () => {
  server = await startServer();
});
afterEach(async () => {
  await server?.stop();
});

test('a message from page A reaches page B, followed by the bot replies in order', async () => {
  const a = await openChat(browser, server.url);
  const b = await openChat(browser, server.url);
  assert.equal(await a.getByTestId('connection-status').getAttribute('data-transport'), 'websocket');
  await sendFromForm(a, 'ann', 'hello there?');

  await expect(() => lines(b), (seen) => seen.length === 3);
  const seen = await lines(b);
  assert.deepEqual(seen.map((l) => [l.author, l.body, l.bot]), [
    ['ann', 'hello there?', false],
    ['ChatFriend', QUESTION_REPLIES[0], true],
    ['ChatFriend', QUESTION_REPLIES[1], true],
  ]);
  assert.ok(seen.every((l) => /^\d\d:\d\d$/.test(l.time)), `timestamps: ${seen.map((l) => l.time)}`);
  // The bot's lines look different from people's.
  const [person, bot] = await b.getByTestId('message').evaluateAll((items) =>
    items.slice(0, 2).map((li) => getComputedStyle(li).backgroundColor));
  assert.notEqual(person, bot);
  // The sender sees the same conversation and keeps the name for the next message.
  await expect(() => lines(a), (mine) => mine.length === 3);
  assert.equal(await a.getByTestId('name').inputValue(), 'ann');
  assert.equal(await a.getByTestId('body').inputValue(), '');
  assert.deepEqual([...a.problems, ...b.problems], []);
  await a.context().close();
  await b.context().close();
});

test('an incomplete form shows the error and sends nothing', async () => {
  const page = await openChat(browser, server.url);
  const error = page.getByTestId('error');
  await page.getByTestId('send').click();
  await expect(() => error.textContent(), (text) => text === 'Please complete the form to send a message');
  await sendFromForm(page, 'ann', '   ');
  assert.equal(await error.textContent(), 'Please complete the form to send a message');
  await sendFromForm(page, '', 'no name');
  assert.equal(await error.textContent(), 'Please complete the form to send a message');

  // The next valid message clears the error, and is the first line anyone sees.
  await sendFromForm(page, 'ann', 'now complete');
  await expect(() => lines(page), (seen) => seen.length >= 1);
  assert.equal((await lines(page))[0].body, 'now complete');
  assert.equal(await error.textContent(), '');
  await page.context().close();
});

test('Enter in the message field sends', async () => {
  const page = await openChat(browser, server.url);
  await page.getByTestId('name').fill('kim');
  await page.getByTestId('body').fill('sent with enter');
  await page.getByTestId('body').press('Enter');
  await expect(() => lines(page), (seen) => seen.some((l) => l.body === 'sent with enter'));
  await page.context().close();
});

test('HTML in a message is shown as text and never runs', async () => {
  const a = await openChat(browser, server.url);
  const b = await openChat(browser, server.url);
  const attack = '<img src=x onerror=alert(1)>';
  await sendFromForm(a, '<b>eve</b>', attack);
  await expect(() => lines(b), (seen) => seen.length >= 1);
  const [first] = await lines(b);
  assert.equal(first.body, attack);
  assert.equal(first.author, '<b>eve</b>');
  assert.equal(await b.locator('[data-testid="messages"] img, [data-testid="messages"] b').count(), 0);
  assert.deepEqual([...a.problems, ...b.problems], []);
  await a.context().close();
  await b.context().close();
});

test('web addresses are links that open safely; HTML and javascript: typed as text stay text', async () => {
  const a = await openChat(browser, server.url);
  const b = await openChat(browser, server.url);
  const typed = 'see https://example.com/page?x=1. and <a href="javascript:alert(1)">x</a> javascript:alert(2)';
  await sendFromForm(a, 'lin', typed);
  const line = b.getByTestId('message').filter({ hasText: 'example.com/page' }).first();
  await line.waitFor();
  assert.equal(await line.locator('.body').textContent(), typed, 'the text is all there, as typed');
  const links = await line.locator('.body a').evaluateAll((anchors) => anchors.map((a) => ({
    href: a.getAttribute('href'), target: a.target, rel: a.rel, text: a.textContent,
  })));
  assert.deepEqual(links, [{ href: 'https://example.com/page?x=1', target: '_blank', rel: 'noopener noreferrer', text: 'https://example.com/page?x=1' }]);
  assert.deepEqual([...a.problems, ...b.problems], []);
  await a.context().close();
  await b.context().close();
});

test('a new chat says what to do; then my messages are set apart, runs are grouped, and days are marked', async () => {
  const own = await startServer();
  try {
    const a = await openChat(browser, own.url);
    const b = await openChat(browser, own.url);
    const empty = a.getByTestId('empty-state');
    await empty.waitFor();
    assert.match(await empty.textContent(), /No messages here yet/);
    await sendFromForm(a, 'ann', 'hello there?');
    await expect(() => lines(b), (seen) => seen.length === 3);
    assert.equal(await empty.count(), 0, 'the hint is gone once there is a conversation');
    const classes = (page) => page.getByTestId('message').evaluateAll((items) => items.map((li) => ({
      mine: li.classList.contains('mine'), continued: li.classList.contains('continued'),
    })));
    await expect(() => lines(a), (seen) => seen.length === 3);
    // Ann's line, then the bot's two replies to it, the second grouped under the first.
    assert.deepEqual(await classes(a), [
      { mine: true, continued: false }, { mine: false, continued: false }, { mine: false, continued: true },
    ]);
    assert.deepEqual((await classes(b)).map((c) => c.mine), [false, false, false], "ann's line is not bob's");
    const days = await b.getByTestId('day-separator').allTextContents();
    assert.deepEqual(days, ['Today']);
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.context().close();
    await b.context().close();
  } finally {
    await own.stop();
  }
});

test('reading back, new messages do not move me; they are counted in the title and a button jumps down', async () => {
  const own = await startServer();
  try {
    const a = await openChat(browser, own.url);
    const b = await openChat(browser, own.url, { viewport: { width: 600, height: 360 } });
    for (let i = 1; i <= 6; i += 1) await sendFromForm(a, 'lee', `line ${i} of a long conversation`);
    await expect(() => lines(b), (seen) => seen.length === 12);
    assert.equal(await b.title(), 'Chat with ChatFriend', 'all read');
    const list = b.getByTestId('messages');
    await list.evaluate((ol) => { ol.scrollTop = 0; ol.dispatchEvent(new Event('scroll')); });
    await sendFromForm(a, 'lee', 'a new line as you read');
    await expect(() => lines(b), (seen) => seen.length === 14);
    assert.equal(await list.evaluate((ol) => ol.scrollTop), 0, 'the view stayed where I was reading');
    await expect(() => b.title(), (title) => title === '(2) Chat with ChatFriend');
    const jump = b.getByTestId('new-messages');
    assert.equal(await jump.textContent(), '2 new messages ↓');
    await jump.click();
    await expect(() => b.title(), (title) => title === 'Chat with ChatFriend');
    assert.equal(await jump.count(), 0);
    const bottom = await list.evaluate((ol) => ol.scrollHeight - ol.scrollTop - ol.clientHeight);
    assert.ok(bottom < 2, `at the newest message (${bottom} px from the bottom)`);
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.context().close();
    await b.context().close();
  } finally {
    await own.stop();
  }
});

test('a right-to-left override in a message cannot reorder the time beside it', async () => {
  const a = await openChat(browser, server.url);
  await sendFromForm(a, 'مريم', '\u202eevil text');
  await expect(() => lines(a), (seen) => seen.some((l) => l.author === 'مريم'));
  const line = a.getByTestId('message').filter({ hasText: 'مريم' }).first();
  const isolation = await line.evaluate((li) => ['.author', '.body'].map((part) => {
    const element = li.querySelector(part);
    return [element.getAttribute('dir'), getComputedStyle(element).unicodeBidi];
  }));
  assert.deepEqual(isolation, [['auto', 'isolate'], ['auto', 'isolate']]);
  assert.match(await line.locator('time').textContent(), /^\d{2}:\d{2}$/);
  // The name rules refuse overrides in names outright.
  await sendFromForm(a, 'ann\u202e', 'hello');
  await expect(() => a.getByTestId('error').textContent().catch(() => ''), (text) => /invisible or text-direction/.test(text));
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('the newest message is scrolled into view', async () => {
  const a = await openChat(browser, server.url);
  const b = await openChat(browser, server.url, { viewport: { width: 600, height: 360 } });
  for (let i = 1; i <= 6; i += 1) {
    await sendFromForm(a, 'lee', `line ${i} of a long conversation`);
  }
  await expect(() => lines(b), (seen) => seen.filter((l) => !l.bot).length === 6 && seen.length === 12);
  const list = b.getByTestId('messages');
  await expect(
    () => list.evaluate((ol) => ({ overflow: ol.scrollHeight > ol.clientHeight, bottom: ol.scrollHeight - ol.scrollTop - ol.clientHeight })),
    ({ overflow, bottom }) => overflow && bottom < 2,
  );
  await a.context().close();
  await b.context().close();
});

test('where WebSocket is blocked, the page falls back to long-polling and chats', async () => {
  const own = await startServer({ args: ['--transports', 'polling'] });
  try {
    const a = await openChat(browser, own.url);
    const b = await openChat(browser, own.url);
    for (const page of [a, b]) {
      const status = page.getByTestId('connection-status');
      assert.equal(await status.getAttribute('data-transport'), 'polling');
      assert.equal(await status.textContent(), 'Connected (long-polling)');
    }
    await sendFromForm(a, 'ann', 'hello there?');
    await expect(() => lines(b), (seen) => seen.length === 3);
    assert.deepEqual((await lines(b)).map((l) => l.body), ['hello there?', ...QUESTION_REPLIES]);
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.context().close();
    await b.context().close();
  } finally {
    await own.stop();
  }
});

test('a page that starts on long-polling upgrades to WebSocket, like the JavaScript client', async () => {
  const page = await openChat(browser, `${server.url}/?transports=upgrade`);
  const status = page.getByTestId('connection-status');
  await expect(() => status.getAttribute('data-transport'), (transport) => transport === 'websocket');
  await sendFromForm(page, 'ann', 'after the upgrade');
  await expect(() => lines(page), (seen) => seen.some((l) => l.body === 'after the upgrade'));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('two tabs of one user share a private conversation with the bot; another user sees none of it', async () => {
  const context = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < 2; i += 1) {
    const page = await context.newPage();
    await page.goto(server.url);
    await connected(page);
    await page.getByTestId('tab-bot').click();
    tabs.push(page);
  }
  const stranger = await openChat(browser, server.url);
  await stranger.getByTestId('tab-bot').click();
  try {
    await tabs[0].getByTestId('bot-body').fill('hello, <b>bot</b>?');
    await tabs[0].getByTestId('bot-send').click();
    for (const page of tabs) {
      await expect(
        () => page.getByTestId('bot-line').allTextContents(),
        (seen) => seen.length === 3,
      );
      const seen = await page.getByTestId('bot-line').evaluateAll((items) => items.map((li) => ({
        author: li.querySelector('.author').textContent,
        body: li.querySelector('.body').textContent,
        bot: li.classList.contains('bot-message'),
      })));
      assert.deepEqual(seen.map((l) => [l.author, l.bot]), [['You', false], ['ChatFriend', true], ['ChatFriend', true]]);
      assert.equal(seen[0].body, 'hello, <b>bot</b>?');
      assert.match(seen[1].body, /^Hello, [A-Za-z0-9_-]+!$/);
      assert.equal(seen[2].body, 'We will be right with you to answer your question.');
    }
    // The group chat saw none of it, and neither did the other user.
    await tabs[1].getByTestId('tab-group').click();
    assert.equal(await tabs[1].getByTestId('message').count(), 0);
    assert.equal(await stranger.getByTestId('bot-line').count(), 0);
  } finally {
    await context.close();
    await stranger.context().close();
  }
});

test('after the backend restarts, the page reconnects and can send again', async () => {
  const own = await startServer();
  const page = await openChat(browser, own.url);
  const status = page.getByTestId('connection-status');
  await own.stop();
  await expect(() => status.getAttribute('data-state'), (state) => state === 'reconnecting');

  // A message typed while offline waits and goes out once the server is back.
  await sendFromForm(page, 'ann', 'typed while offline');
  const again = await startServer({ port: own.port, dataDir: own.dataDir });
  try {
    await connected(page, 20_000);
    await expect(() => lines(page), (seen) => seen.some((l) => l.body === 'typed while offline'));
    await sendFromForm(page, 'ann', 'hello after restart?');
    await expect(() => lines(page), (seen) => seen.some((l) => l.body === 'hello after restart?'));
    assert.deepEqual(page.problems, []);
  } finally {
    await page.context().close();
    await again.stop();
  }
});
