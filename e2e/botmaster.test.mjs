// Botmaster mode: one-to-one conversations with the bot, spoken exactly as
// Botmaster's socket.io channel and its client_app.js speak it, and session
// tokens that keep one user's conversation from everybody else.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';

import { startServer } from './support/server.mjs';
import { Inbox } from './support/client.mjs';

const NO_QUESTION = 'Did you have a question for us today?';

/** Connects like client_app.js: io('?botmasterUserId=ID'), plus options. */
function botmasterClient(url, userId, options = {}) {
  const query = userId === undefined ? '' : `?botmasterUserId=${userId}`;
  const socket = io(`${url}/${query}`, { forceNew: true, reconnection: false, ...options });
  return { socket, inbox: new Inbox(socket) };
}

function connected({ socket }) {
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
}

function refused({ socket }) {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected, but should have been refused')));
    socket.once('connect_error', (error) => resolve(error.message));
  });
}

/** What client_app.js does with a `message` event. */
const botText = (raw) => JSON.parse(raw).message.text;

async function newSession(url) {
  const response = await fetch(`${url}/api/session`, { method: 'POST' });
  assert.equal(response.status, 200);
  return response.json();
}

describe('with --insecure-trust-client-ids, Botmaster\'s original client works unchanged', () => {
  let server;
  before(async () => { server = await startServer({ args: ['--insecure-trust-client-ids'] }); });
  after(async () => { await server?.stop(); });

  test('every client of the user gets the reply; other users get nothing', async () => {
    const tab1 = botmasterClient(server.url, 'wantedUserId');
    const tab2 = botmasterClient(server.url, 'wantedUserId');
    const stranger = botmasterClient(server.url, 'someoneElse');
    try {
      await Promise.all([tab1, tab2, stranger].map(connected));
      // Exactly what client_app.js sends on submit.
      tab1.socket.send(JSON.stringify({ text: 'Hey there botmaster!' }));

      for (const tab of [tab1, tab2]) {
        const [raw] = await tab.inbox.take('message');
        assert.equal(typeof raw, 'string', 'a JSON string, as client_app.js expects');
        assert.equal(botText(raw), NO_QUESTION);
        assert.equal(JSON.parse(raw).recipient.id, 'wantedUserId');
      }
      // The other tab also sees what the user said; the sending tab already shows it.
      const [echo] = await tab2.inbox.take('usermessage');
      assert.equal(JSON.parse(echo).message.text, 'Hey there botmaster!');
      assert.equal(tab1.inbox.all('usermessage').length, 0);

      // The stranger talks too, and only ever hears its own conversation.
      stranger.socket.send(JSON.stringify({ text: 'hello?' }));
      const replies = await stranger.inbox.take('message', 2);
      assert.deepEqual(replies.map(botText), ['Hello, someoneElse!', 'We will be right with you to answer your question.']);
      assert.equal(tab1.inbox.all('message').length, 1);
      assert.equal(tab2.inbox.all('message').length, 1);
    } finally {
      [tab1, tab2, stranger].forEach(({ socket }) => socket.close());
    }
  });

  test('one tab\'s messages reach the other tabs in the order they were sent', async () => {
    const tab1 = botmasterClient(server.url, 'orderly');
    const tab2 = botmasterClient(server.url, 'orderly');
    try {
      await Promise.all([tab1, tab2].map(connected));
      const texts = Array.from({ length: 10 }, (_, i) => `message ${i}`);
      texts.forEach((text) => tab1.socket.send(JSON.stringify({ text })));
      const echoes = await tab2.inbox.take('usermessage', texts.length);
      assert.deepEqual(echoes.map((raw) => JSON.parse(raw).message.text), texts);
      assert.equal((await tab2.inbox.take('message', texts.length)).length, texts.length);
    } finally {
      [tab1, tab2].forEach(({ socket }) => socket.close());
    }
  });

  test('a resend with the same client id is acknowledged again but said and answered once', async () => {
    const tab1 = botmasterClient(server.url, 'resender');
    const tab2 = botmasterClient(server.url, 'resender');
    try {
      await Promise.all([tab1, tab2].map(connected));
      const said = JSON.stringify({ text: 'only once, please', client_id: 'bm-1' });
      const first = await tab1.socket.timeout(5000).emitWithAck('message', said);
      const again = await tab1.socket.timeout(5000).emitWithAck('message', said);
      assert.ok(first.accepted, JSON.stringify(first));
      assert.deepEqual(again, first, 'the same id both times');
      await tab2.inbox.take('message');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(tab2.inbox.all('usermessage').length, 1, 'echoed once');
      // The echo names the stored line and the client id, so a tab that holds
      // the same line (sent from the shared outbox) does not show it twice.
      const echo = JSON.parse(tab2.inbox.all('usermessage')[0]);
      assert.equal(echo.id, first.accepted.id);
      assert.equal(echo.client_id, 'bm-1');
      assert.equal(typeof JSON.parse(tab2.inbox.all('message')[0]).id, 'number', 'bot lines carry their id too');
      assert.equal(tab2.inbox.all('message').length, 1, 'answered once');
      // A new tab gets the conversation from the history: the line once, the answer once.
      const tab3 = botmasterClient(server.url, 'resender');
      await connected(tab3);
      const [raw] = await tab3.inbox.take('bothistory');
      tab3.socket.close();
      // A user who speaks in JSON strings gets the history as one too.
      assert.equal(typeof raw, 'string');
      const history = JSON.parse(raw);
      assert.deepEqual(history.map((line) => [line.from_bot, line.message.text]), [
        [false, 'only once, please'],
        [true, NO_QUESTION],
      ]);
      assert.equal(history[0].client_id, 'bm-1');
      assert.deepEqual(history.map((line) => line.id), [first.accepted.id, first.accepted.id + 1]);
    } finally {
      [tab1, tab2].forEach(({ socket }) => socket.close());
    }
  });

  test('a malformed Botmaster message gets a clear error', async () => {
    const tab = botmasterClient(server.url, 'wantedUserId');
    try {
      await connected(tab);
      tab.socket.send('not json');
      tab.socket.send(JSON.stringify({ txt: 'typo' }));
      const errors = await tab.inbox.take('chaterror', 2);
      assert.deepEqual(errors.map((e) => e.code), ['malformed', 'malformed']);
      assert.equal(tab.inbox.all('message').length, 0);
    } finally {
      tab.socket.close();
    }
  });
});

describe('with session tokens (the default)', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test('a claimed id without a token is refused with a clear message', async () => {
    const message = await refused(botmasterClient(server.url, 'wantedUserId'));
    assert.match(message, /botmasterUserId needs a session token/);
  });

  test('a forged or foreign token is refused', async () => {
    const { userId, token } = await newSession(server.url);
    const forged = `${userId}.${'A'.repeat(43)}`;
    assert.equal(await refused(botmasterClient(server.url, undefined, { auth: { token: forged } })), 'invalid session token');
    assert.equal(await refused(botmasterClient(server.url, 'someoneElse', { auth: { token } })), 'botmasterUserId does not match the session token');
  });

  test('two sockets with one token share the conversation; another user never sees it', async () => {
    const ann = await newSession(server.url);
    const bob = await newSession(server.url);
    assert.notEqual(ann.userId, bob.userId);
    const tab1 = botmasterClient(server.url, ann.userId, { auth: { token: ann.token } });
    const tab2 = botmasterClient(server.url, undefined, { auth: { token: ann.token } });
    const other = botmasterClient(server.url, undefined, { auth: { token: bob.token } });
    try {
      await Promise.all([tab1, tab2, other].map(connected));
      tab2.socket.send(JSON.stringify({ text: 'anyone there' }));
      for (const tab of [tab1, tab2]) {
        assert.equal(botText((await tab.inbox.take('message'))[0]), NO_QUESTION);
      }
      other.socket.send(JSON.stringify({ text: 'me too' }));
      await other.inbox.take('message');
      assert.equal(tab1.inbox.all('message').length, 1, 'ann hears only her own conversation');
      assert.equal(other.inbox.all('message').length, 1, 'bob hears only his');
      assert.equal(other.inbox.all('usermessage').length, 0);
    } finally {
      [tab1, tab2, other].forEach(({ socket }) => socket.close());
    }
  });

  test('tokens survive a server restart', async () => {
    const own = await startServer();
    const { token } = await newSession(own.url);
    await own.stop();
    const again = await startServer({ port: own.port, dataDir: own.dataDir });
    const tab = botmasterClient(again.url, undefined, { auth: { token } });
    try {
      await connected(tab);
    } finally {
      tab.socket.close();
      await again.stop();
    }
  });

  test('anonymous sockets still use the group chat', async () => {
    const anonymous = botmasterClient(server.url, undefined);
    try {
      await connected(anonymous);
      const ack = await anonymous.socket.timeout(5000).emitWithAck('newmessage', { user: 'ann', body: 'group' });
      assert.ok(ack.accepted);
    } finally {
      anonymous.socket.close();
    }
  });
});
