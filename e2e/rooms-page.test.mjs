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
