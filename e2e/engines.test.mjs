// The private conversation with real-looking bot engines, through Chromium:
// an OpenAI-compatible server whose answer streams in as one growing
// message, and Rasa's buttons and images. The engines are small servers
// that follow each API's published contract (fixtures/fake-engines.mjs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { expect } from './support/expect.mjs';
import { startServer } from './support/server.mjs';
import { launch, openChat } from './support/browser.mjs';
import { startFakeOpenAI, startFakeRasa } from './fixtures/fake-engines.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Opens the chat at `url` on its "Talk to the bot" tab. */
async function botTab(url) {
  const page = await openChat(browser, url);
  await page.getByTestId('tab-bot').click();
  await expect(() => page.getByTestId('bot-error').textContent(), (text) => text === '');
  return page;
}

/** The private conversation's lines, as {author, body, streaming, image}. */
function botLines(page) {
  return page.getByTestId('bot-line').evaluateAll((items) => items.map((li) => ({
    author: li.querySelector('.author').textContent,
    body: li.querySelector('.body').textContent,
    streaming: li.dataset.streaming === 'true',
    image: li.querySelector('img')?.getAttribute('src') ?? null,
  })));
}

test('an OpenAI-compatible answer streams in as one growing message', async () => {
  const pieces = ['Streaming ', 'works, ', 'piece ', 'by ', 'piece.'];
  const engine = await startFakeOpenAI({ pieces, gap: 250 });
  const server = await startServer({ args: ['--bot', 'openai', '--openai-url', engine.url, '--openai-model', 'tiny'] });
  const page = await botTab(server.url);
  try {
    await page.getByTestId('bot-body').fill('Tell me something');
    await page.getByTestId('bot-send').click();
    // Midway: one bot line, still being written, holding only part of the answer.
    const midway = await expect(() => botLines(page), (seen) => seen.length === 2 && seen[1].streaming && seen[1].body.length > 0);
    assert.ok(pieces.join('').startsWith(midway[1].body), `a prefix of the answer: ${midway[1].body}`);
    assert.notEqual(midway[1].body, pieces.join(''));
    // Done: still one bot line, finished, with the whole answer.
    const done = await expect(() => botLines(page), (seen) => seen.length === 2 && !seen[1].streaming);
    assert.deepEqual(done.map((l) => [l.author, l.body]), [
      ['You', 'Tell me something'],
      ['ChatFriend', pieces.join('')],
    ]);
    assert.equal(engine.requests[0].stream, true);
    assert.equal(engine.requests[0].model, 'tiny');
    assert.deepEqual(engine.requests[0].messages, [{ role: 'user', content: 'Tell me something' }]);
    assert.deepEqual(page.problems, []);
  } finally {
    await page.context().close();
    await server.stop();
    await engine.close();
  }
});

test('Rasa buttons are quick replies that send their payload; images are shown, unsafe ones are not', async () => {
  const rasa = await startFakeRasa();
  const server = await startServer({ args: ['--bot', 'rasa', '--rasa-url', rasa.url] });
  const page = await botTab(server.url);
  try {
    await page.getByTestId('bot-body').fill('hi');
    await page.getByTestId('bot-send').click();
    const seen = await expect(() => botLines(page), (lines) => lines.length === 4);
    assert.deepEqual(seen, [
      { author: 'You', body: 'hi', streaming: false, image: null },
      { author: 'ChatFriend', body: 'Which one?', streaming: false, image: null },
      { author: 'ChatFriend', body: '', streaming: false, image: `${rasa.url}/cat.svg` },
      // Not an http(s) address: shown as text, never as an image source.
      { author: 'ChatFriend', body: 'javascript:alert(1)', streaming: false, image: null },
    ]);
    const image = page.getByTestId('bot-image');
    await expect(() => image.evaluate((img) => img.complete && img.naturalWidth), (width) => width === 40);
    // The buttons Rasa sent with "Which one?" wait under the conversation.
    const buttons = page.getByTestId('quick-reply');
    assert.deepEqual(await buttons.allTextContents(), ['Cats', 'Dogs']);
    await buttons.filter({ hasText: 'Dogs' }).click();
    const after = await expect(() => botLines(page), (lines) => lines.length === 6);
    // The user sees the title; Rasa gets the payload.
    assert.deepEqual(after.slice(4).map((l) => [l.author, l.body]), [
      ['You', 'Dogs'],
      ['ChatFriend', 'You picked /choose{"pet":"dog"}'],
    ]);
    assert.deepEqual(rasa.received, ['hi', '/choose{"pet":"dog"}']);
    // Once answered, the buttons are gone.
    assert.equal(await buttons.count(), 0);
    assert.deepEqual(page.problems, []);
  } finally {
    await page.context().close();
    await server.stop();
    await rasa.close();
  }
});
