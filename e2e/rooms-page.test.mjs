// Rooms, names, unread counts, presence and typing in the real page, through
// headless Chromium, against the real backend.
import { after, afterEach, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { expect } from './support/expect.mjs';

import { startServer } from './support/server.mjs';
import { connected, launch, lines, openChat, sendFromForm } from './support/browser.mjs';

let server;
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });
beforeEach(async () => { server = await startServer(); });
afterEach(async () => { await server?.stop(); });

/** Another tab of the same browser (and so the same session) as `page`. */
async function anotherTab(page, url) {
  const tab = await page.context().newPage();
  tab.problems = [];
  tab.on('pageerror', (error) => tab.problems.push(`page error: ${error.message}`));
  await tab.goto(url);
  await connected(tab);
  return tab;
}

/** The room list: [name, unread] in order, and which room is current. */
function roomList(page) {
  return page.getByTestId('room').evaluateAll((links) => links.map((a) => ({
    room: a.dataset.room,
    unread: Number(a.querySelector('[data-testid="unread"]')?.textContent ?? 0),
    current: a.getAttribute('aria-current') === 'page',
  })));
}

async function joinRoom(page, name) {
  await page.getByTestId('room-name').fill(name);
  await page.getByTestId('join').click();
}

test('two users in two rooms: each room shows its own messages, and a room\'s address can be shared', async () => {
  const ann = await openChat(browser, server.url);
  await joinRoom(ann, 'Dev');
  await expect(() => ann.evaluate(() => location.hash), (hash) => hash === '#dev');
  await expect(() => roomList(ann), (rooms) => rooms.map((r) => r.room).join() === 'general,dev' && rooms[1].current);
  await sendFromForm(ann, 'Ann', 'only for dev');
  await expect(() => lines(ann), (seen) => seen.some((l) => l.body === 'only for dev'));

  // The address names the room: Bob opens it and is in.
  const bob = await openChat(browser, `${server.url}/#dev`);
  await expect(() => lines(bob), (seen) => seen.some((l) => l.body === 'only for dev' && l.author === 'Ann'));
  const tag = await bob.getByTestId('message').filter({ hasText: 'only for dev' }).getByTestId('user-tag').textContent();
  assert.match(tag, /^#[A-Za-z0-9_-]{4}$/, 'a tag from the sender\'s id tells apart people of one name');
  await sendFromForm(bob, 'Bob', 'in general now');
  await bob.getByTestId('room').filter({ hasText: '#general' }).click();
  await sendFromForm(bob, 'Bob', 'hello general');
  await expect(() => lines(bob), (seen) => seen.some((l) => l.body === 'hello general'));
  assert.ok(!(await lines(bob)).some((l) => l.body === 'only for dev'), 'general does not show dev');

  await ann.getByTestId('room').filter({ hasText: '#general' }).click();
  await expect(() => lines(ann), (seen) => seen.some((l) => l.body === 'hello general'));
  assert.ok(!(await lines(ann)).some((l) => l.body === 'only for dev'));
  assert.deepEqual([...ann.problems, ...bob.problems], []);
  await ann.context().close();
  await bob.context().close();
});

test('unread counts follow the user across tabs, and the title counts them all', async () => {
  const first = await openChat(browser, server.url);
  await joinRoom(first, 'news');
  await expect(() => roomList(first), (rooms) => rooms.length === 2);
  await first.getByTestId('room').filter({ hasText: '#general' }).click();
  const second = await anotherTab(first, server.url);
  await expect(() => roomList(second), (rooms) => rooms.map((r) => r.room).join() === 'general,news');

  const other = await openChat(browser, `${server.url}/#news`);
  await sendFromForm(other, 'Olu', 'first news');
  await sendFromForm(other, 'Olu', 'second news');
  // Two messages and the bot's answer to each.
  for (const tab of [first, second]) {
    await expect(() => roomList(tab), (rooms) => rooms.find((r) => r.room === 'news')?.unread === 4);
    await expect(() => tab.title(), (title) => title === '(4) Chat with ChatFriend');
  }
  // Reading them in one tab clears them in the other.
  await first.getByTestId('room').filter({ hasText: '#news' }).click();
  await expect(() => lines(first), (seen) => seen.some((l) => l.body === 'second news'));
  for (const tab of [first, second]) {
    await expect(() => roomList(tab), (rooms) => rooms.every((r) => r.unread === 0));
    await expect(() => tab.title(), (title) => title === 'Chat with ChatFriend');
  }
  assert.deepEqual([...first.problems, ...second.problems, ...other.problems], []);
  await first.context().close();
  await other.context().close();
});

test('who is here counts a user with two tabs once; typing shows and clears', async () => {
  const ann = await openChat(browser, server.url);
  await sendFromForm(ann, 'Ann', 'here I am');
  const annAgain = await anotherTab(ann, server.url);
  const bob = await openChat(browser, server.url);
  await sendFromForm(bob, 'Bob', 'me too');
  const members = () => bob.getByTestId('members').textContent();
  await expect(members, (text) => text === 'Here: Ann, Bob' || text === 'Here: Bob, Ann');

  // Ann types: Bob sees it, it clears when her message arrives.
  await annAgain.getByTestId('body').pressSequentially('typing something', { delay: 10 });
  await expect(() => bob.getByTestId('typing').textContent(), (text) => text === 'Ann is typing…');
  assert.equal(await annAgain.getByTestId('typing').textContent(), '', 'not to herself');
  await annAgain.getByTestId('send').click();
  await expect(() => bob.getByTestId('typing').textContent(), (text) => text === '');

  // And it clears by itself when she stops without sending.
  await ann.getByTestId('body').pressSequentially('never sent', { delay: 10 });
  await expect(() => bob.getByTestId('typing').textContent(), (text) => text === 'Ann is typing…');
  await expect(() => bob.getByTestId('typing').textContent(), (text) => text === '', { timeout: 8000 });

  // One of Ann's tabs closing does not make her leave; the last one does.
  await annAgain.close();
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.match(await members(), /Ann/);
  await ann.context().close();
  await expect(() => bob.getByTestId('presence-change').textContent(), (text) => text === 'Ann left');
  await expect(members, (text) => text === 'Here: Bob');
  assert.deepEqual(bob.problems, []);
  await bob.context().close();
});

test('the name is the session\'s: remembered across reloads, and changing it renames', async () => {
  const page = await openChat(browser, server.url);
  await sendFromForm(page, 'Ann', 'my first message');
  await expect(() => lines(page), (seen) => seen.some((l) => l.author === 'Ann'));
  await page.reload();
  await connected(page);
  await expect(() => page.getByTestId('name').inputValue(), (name) => name === 'Ann');
  await page.getByTestId('name').fill('Annie');
  await page.getByTestId('body').fill('a new name');
  await page.getByTestId('send').click();
  await expect(() => lines(page), (seen) => seen.some((l) => l.author === 'Annie' && l.body === 'a new name'));
  await expect(() => page.getByTestId('members').textContent(), (text) => text === 'Here: Annie');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('desktop notifications, once turned on, show others\' messages while the tab is hidden', async () => {
  const context = await browser.newContext();
  await context.grantPermissions(['notifications'], { origin: server.url });
  // Records what the page shows; the browser's own Notification does the rest.
  await context.addInitScript(() => {
    window.shownNotifications = [];
    const Real = window.Notification;
    window.Notification = class extends Real {
      constructor(title, options) {
        window.shownNotifications.push({ title, body: options?.body });
        super(title, options);
      }
    };
  });
  const reader = await context.newPage();
  await reader.goto(server.url);
  await connected(reader);
  const toggle = reader.getByTestId('notify-toggle');
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false', 'off until asked for');
  await toggle.click();
  await expect(() => toggle.getAttribute('aria-pressed'), (pressed) => pressed === 'true');
  await sendFromForm(reader, 'Rea', 'my own words are not notified');
  await reader.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const other = await openChat(browser, server.url);
  await sendFromForm(other, 'Olu', 'are you there?');
  const shown = () => reader.evaluate(() => window.shownNotifications);
  await expect(shown, (list) => list.some((n) => n.title === 'Olu in #general' && n.body === 'are you there?'));
  assert.ok(!(await shown()).some((n) => n.body === 'my own words are not notified'));
  await context.close();
  await other.context().close();
});

test('screen readers hear new messages paced: one read out, a burst summed up', async () => {
  const reader = await openChat(browser, server.url);
  const sender = await openChat(browser, server.url);
  await reader.getByTestId('announcer').evaluate((element) => {
    window.announcements = [];
    new MutationObserver(() => window.announcements.push(element.textContent))
      .observe(element, { childList: true, subtree: true, characterData: true });
  });
  await sendFromForm(sender, 'Sam', 'one alone?');
  await expect(() => reader.evaluate(() => window.announcements), (said) => said.length >= 1, { timeout: 6000 });
  const first = await reader.evaluate(() => window.announcements);
  assert.match(first[0], /^(Sam: one alone\?|\d new messages in #general; the latest from ChatFriend: .+)$/);
  for (let i = 1; i <= 6; i += 1) await sendFromForm(sender, 'Sam', `burst ${i}?`);
  await new Promise((resolve) => setTimeout(resolve, 7000));
  const said = await reader.evaluate(() => window.announcements);
  // Six messages and six bot answers, and at most one announcement per 3 s.
  assert.ok(said.length <= 4, `paced: ${JSON.stringify(said)}`);
  assert.ok(said.slice(1).some((text) => /new messages in #general; the latest from/.test(text)), JSON.stringify(said));
  await reader.context().close();
  await sender.context().close();
});

test('on a phone the form stays in view when the on-screen keyboard takes half the screen', async () => {
  const page = await openChat(browser, server.url, { viewport: { width: 390, height: 844 } });
  const inView = async () => {
    const box = await page.getByTestId('body').boundingBox();
    const height = page.viewportSize().height;
    return box && box.y >= 0 && box.y + box.height <= height;
  };
  assert.ok(await inView(), 'in view at full height');
  assert.match(await page.locator('meta[name="viewport"]').getAttribute('content'), /interactive-widget=resizes-content/);
  // With `resizes-content` the keyboard shrinks the layout viewport like this.
  await page.setViewportSize({ width: 390, height: 420 });
  await page.getByTestId('body').focus();
  assert.ok(await inView(), 'in view above the keyboard');
  await page.context().close();
});

test('the private conversation shows when each line was said', async () => {
  const page = await openChat(browser, server.url);
  await page.getByTestId('tab-bot').click();
  await page.getByTestId('bot-body').fill('hi');
  await page.getByTestId('bot-body').press('Enter');
  const times = () => page.getByTestId('bot-line').evaluateAll((items) => items.map((li) => li.querySelector('time')?.textContent ?? null));
  await expect(times, (list) => list.length >= 2 && list.every((t) => /^\d{2}:\d{2}$/.test(t ?? '')));
  await page.reload();
  await connected(page);
  await page.getByTestId('tab-bot').click();
  await expect(times, (list) => list.length >= 2 && list.every((t) => /^\d{2}:\d{2}$/.test(t ?? '')));
  await page.context().close();
});
