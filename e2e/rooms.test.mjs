// Rooms, session names, read marks, presence and typing, as the official
// socket.io-client sees them, against the real chat-server binary.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './support/server.mjs';
import { io as ioClient } from 'socket.io-client';

import { connect, send } from './support/client.mjs';
import { expect } from './support/expect.mjs';

// Every test here connects from 127.0.0.1, one client address, which the
// limits count together; the limits test gets the defaults.
const ONE_ADDRESS_MANY_TESTS = [
  '--message-burst', '1000', '--messages-per-second', '1000',
  '--connect-burst', '1000', '--connects-per-second', '1000',
  '--older-burst', '1000', '--older-per-second', '1000',
];

let server;
before(async () => { server = await startServer({ args: ONE_ADDRESS_MANY_TESTS }); });
after(async () => { await server?.stop(); });

async function newSession(url = server.url) {
  const response = await fetch(`${url}/api/session`, { method: 'POST' });
  assert.equal(response.status, 200);
  return response.json();
}

/** A tab of `session`'s user: connected, its `rooms` welcome read. */
async function tab(session, auth = {}, url = server.url) {
  const client = await connect(url, { transports: ['websocket'], auth: { token: session.token, ...auth } });
  const [welcome] = await client.inbox.take('rooms');
  return { ...client, welcome, close: () => client.socket.close() };
}

function emit(socket, event, payload) {
  return socket.timeout(5000).emitWithAck(event, payload);
}

async function named(client, name) {
  const answer = await emit(client.socket, 'name', { name });
  assert.equal(answer.named?.name, name, JSON.stringify(answer));
}

async function join(client, room) {
  const answer = await emit(client.socket, 'join', { room });
  assert.ok(answer.joined, `join ${room}: ${JSON.stringify(answer)}`);
  return answer.joined;
}

let ids = 0;
function said(room, body) {
  ids += 1;
  return { body, room, client_id: `rooms-test-${process.pid}-${ids}` };
}

/** Events named `name` about `room` so far. */
function about(client, name, room) {
  return client.inbox.all(name).filter((event) => event.room === room);
}

describe('rooms', () => {
  test('two users in two rooms: each room has its own ids, history and bot answers; messages carry the session\'s id and name', async () => {
    const [annSession, bobSession] = [await newSession(), await newSession()];
    const ann = await tab(annSession);
    const bob = await tab(bobSession);
    const tutorial = await connect(server.url);
    try {
      assert.equal(ann.welcome.user_id, annSession.userId);
      assert.deepEqual(ann.welcome.rooms.map((r) => r.room), ['general']);
      await named(ann, 'Ann');
      await named(bob, 'Bob');
      const room = `dev-${process.pid}`;
      const joined = await join(ann, room.toUpperCase());
      assert.deepEqual(joined, { room, last_read: 0 }, 'names are lowercased');
      await join(bob, room);
      const [history] = (await ann.inbox.take('history', 2)).filter((h) => h.room === room);
      assert.deepEqual(history, { room, messages: [], reset: true, more: false });

      // The session's id goes on the message, whatever the payload says; without a name, the session's.
      const ack = await send(ann.socket, { ...said(room, 'hello dev'), user_id: bobSession.userId });
      assert.deepEqual(ack, { accepted: { id: 1 } }, 'the room counts from 1');
      await expect(() => about(bob, 'newmessage', room), (seen) => seen.length === 1);
      const [message] = about(bob, 'newmessage', room);
      assert.equal(message.user, 'Ann');
      assert.equal(message.user_id, annSession.userId);
      assert.equal(message.body, 'hello dev');
      await expect(() => about(bob, 'botmessage', room), (seen) => seen.length >= 1);
      assert.equal(about(bob, 'botmessage', room)[0].room, room, 'the bot answers in the room');

      // general goes on with its own ids, and the tutorial's client sees only general.
      const inGeneral = await send(bob.socket, said('general', 'hello everyone'));
      await expect(() => tutorial.inbox.all('newmessage'), (seen) => seen.some((m) => m.body === 'hello everyone'));
      const seenByTutorial = tutorial.inbox.all('newmessage');
      assert.ok(seenByTutorial.every((m) => m.room === 'general'));
      assert.equal(seenByTutorial.find((m) => m.body === 'hello everyone').id, inGeneral.accepted.id);
      assert.ok(!tutorial.inbox.all('botmessage').some((m) => m.room === room));

      // A room the socket is not in cannot be written to.
      const outside = await send(tutorial.socket, { user: 'kim', body: 'let me in', room });
      assert.equal(outside.rejected?.code, 'invalid');
      assert.match(outside.rejected.message, /Join the room/);
    } finally {
      ann.close();
      bob.close();
      tutorial.socket.close();
    }
  });

  test('a tab that reconnects gets exactly what it missed in each room, and pages back per room', async () => {
    const [annSession, bobSession] = [await newSession(), await newSession()];
    const [dev, ops] = [`dev2-${process.pid}`, `ops-${process.pid}`];
    const bob = await tab(bobSession);
    await named(bob, 'Bob');
    await join(bob, dev);
    await join(bob, ops);
    let ann = await tab(annSession);
    await join(ann, dev);
    await join(ann, ops);
    for (let i = 1; i <= 3; i += 1) await send(bob.socket, said(dev, `dev ${i}`));
    await send(bob.socket, said(ops, 'ops 1'));
    await expect(() => about(ann, 'newmessage', ops), (seen) => seen.length === 1);
    const last = { [dev]: about(ann, 'newmessage', dev).at(-1).id, [ops]: 1 };
    ann.close();
    for (let i = 4; i <= 6; i += 1) await send(bob.socket, said(dev, `dev ${i}`));
    await send(bob.socket, said(ops, 'ops 2'));
    ann = await tab(annSession, { rooms: last });
    try {
      assert.deepEqual(ann.welcome.rooms.map((r) => r.room).sort(), [dev, 'general', ops].sort(), 'the rooms follow the user');
      await expect(() => ann.inbox.all('history'), (seen) => seen.length === 3);
      const missed = (room) => ann.inbox.all('history').find((h) => h.room === room);
      assert.equal(missed(dev).reset, false);
      assert.deepEqual(missed(dev).messages.filter((m) => m.user === 'Bob').map((m) => m.body), ['dev 4', 'dev 5', 'dev 6']);
      assert.deepEqual(missed(ops).messages.filter((m) => m.user === 'Bob').map((m) => m.body), ['ops 2']);
      assert.ok(missed(ops).messages.every((m) => m.id > 1), 'nothing it had');
      const older = await emit(ann.socket, 'older', { before: 3, room: dev });
      assert.equal(older.room, dev);
      assert.deepEqual(older.messages.map((m) => m.id), [1, 2]);
      const notIn = await emit(ann.socket, 'older', { before: 3, room: `nowhere-${process.pid}` });
      assert.equal(notIn.rejected?.code, 'invalid');
    } finally {
      ann.close();
      bob.close();
    }
  });

  test('a read mark reaches the user\'s other tabs and every later connection', async () => {
    const [annSession, bobSession] = [await newSession(), await newSession()];
    const room = `reads-${process.pid}`;
    const bob = await tab(bobSession);
    await join(bob, room);
    for (let i = 1; i <= 4; i += 1) await send(bob.socket, { ...said(room, `line ${i}`), user: 'Bob' });
    const first = await tab(annSession);
    const second = await tab(annSession);
    try {
      assert.equal((await join(first, room)).last_read, 0);
      await join(second, room);
      first.socket.emit('read', { room, id: 3 });
      const [mark] = await second.inbox.take('read');
      assert.deepEqual(mark, { room, id: 3 });
      assert.deepEqual(first.inbox.all('read'), [], 'not back to the tab that said it');
      first.socket.emit('read', { room, id: 2 });
      const third = await tab(annSession);
      try {
        const state = third.welcome.rooms.find((r) => r.room === room);
        assert.equal(state.last_read, 3, 'kept, and never moved back');
      } finally {
        third.close();
      }
    } finally {
      first.close();
      second.close();
      bob.close();
    }
  });

  test('leaving a room takes it off the user\'s list; general cannot be left', async () => {
    const session = await newSession();
    const room = `leave-${process.pid}`;
    const first = await tab(session);
    await join(first, room);
    first.socket.emit('leave', { room });
    first.socket.emit('leave', { room: 'general' });
    await expect(async () => (await tab(session)).welcome.rooms.map((r) => r.room), (rooms) => rooms.join() === 'general');
    first.close();
  });
});

describe('names', () => {
  test('a session\'s first name is kept, shown on its messages and changed by a message under another name or a rename', async () => {
    const session = await newSession();
    const first = await tab(session);
    try {
      assert.equal(first.welcome.name, undefined);
      await send(first.socket, { ...said('general', 'my first words'), user: 'Zed' });
      const later = await tab(session);
      assert.equal(later.welcome.name, 'Zed', 'the first message named the session');
      await named(later, 'Zed Two');
      // The other tab hears of it.
      await expect(() => first.inbox.all('rooms').at(-1).name, (name) => name === 'Zed Two');
      await send(first.socket, said('general', 'still me'));
      await expect(() => later.inbox.all('newmessage'), (seen) => seen.some((m) => m.body === 'still me'));
      assert.equal(later.inbox.all('newmessage').find((m) => m.body === 'still me').user, 'Zed Two');
      // A message under another name renames the session, for every tab.
      await send(first.socket, { ...said('general', 'call me Zee'), user: 'Zee' });
      await expect(() => later.inbox.all('rooms').at(-1).name, (name) => name === 'Zee');
      await expect(() => later.inbox.all('newmessage'), (seen) => seen.some((m) => m.body === 'call me Zee'));
      const [message] = later.inbox.all('newmessage').filter((m) => m.body === 'call me Zee');
      assert.equal(message.user, 'Zee');
      assert.equal(message.user_id, session.userId);
      const bad = await emit(later.socket, 'name', { name: 'ChatFriend' });
      assert.equal(bad.rejected?.code, 'invalid');
      later.close();
    } finally {
      first.close();
    }
    const anonymous = await connect(server.url);
    try {
      const refused = await emit(anonymous.socket, 'name', { name: 'Kim' });
      assert.match(refused.rejected?.message ?? '', /needs a session/);
    } finally {
      anonymous.socket.close();
    }
  });

  test('the bot greets people by their name in the private conversation too', async () => {
    const session = await newSession();
    const client = await tab(session);
    try {
      await named(client, 'Priya');
      client.socket.emit('message', { text: 'hi' });
      await expect(() => client.inbox.all('message'), (seen) => seen.some((m) => /Hello, Priya!/.test(JSON.stringify(m))));
    } finally {
      client.close();
    }
  });
});

describe('presence and typing', () => {
  test('every tab of a user counts once; arrivals and departures reach the room', async () => {
    const [annSession, bobSession] = [await newSession(), await newSession()];
    const room = `here-${process.pid}`;
    const bob = await tab(bobSession);
    await named(bob, 'Bob');
    await join(bob, room);
    const annTabs = [await tab(annSession), await tab(annSession)];
    await named(annTabs[0], 'Ann');
    const latest = () => about(bob, 'presence', room).at(-1);
    try {
      for (const annTab of annTabs) await join(annTab, room);
      await expect(latest, (p) => p.count === 2);
      assert.deepEqual(latest().members.map((m) => m.name).sort(), ['Ann', 'Bob']);
      assert.equal(latest().members.find((m) => m.name === 'Ann').user_id, annSession.userId);
      annTabs[0].close();
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(latest().count, 2, 'Ann still has a tab there');
      annTabs[1].close();
      await expect(latest, (p) => p.count === 1);
      assert.deepEqual(latest().members.map((m) => m.name), ['Bob']);
    } finally {
      for (const annTab of annTabs) annTab.close();
      bob.close();
    }
  });

  test('typing reaches the room\'s others at once, is never stored, and a flood is cut to the signal rate', async () => {
    const [annSession, bobSession] = [await newSession(), await newSession()];
    const room = `typing-${process.pid}`;
    const [ann, bob] = [await tab(annSession), await tab(bobSession)];
    try {
      await named(ann, 'Ann');
      await join(ann, room);
      await join(bob, room);
      // Live events follow a room's history.
      await expect(() => about(bob, 'history', room), (seen) => seen.length === 1);
      ann.socket.emit('typing', { room });
      const [typing] = await bob.inbox.take('typing');
      assert.deepEqual(typing, { room, user_id: annSession.userId, name: 'Ann' });
      for (let i = 0; i < 200; i += 1) ann.socket.emit('typing', { room });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const passed = bob.inbox.all('typing').length;
      assert.ok(passed <= 40, `a flood of 200 is cut to the signal rate (${passed} passed)`);
      assert.equal(ann.inbox.all('typing').length, 0, 'not echoed to the typist');
      const late = await tab(annSession);
      await join(late, room);
      await late.inbox.take('history', 2);
      assert.ok(late.inbox.all('history').every((h) => h.messages.length === 0 || h.room !== room), 'nothing stored');
      late.close();
    } finally {
      ann.close();
      bob.close();
    }
  });
});

describe('room limits, with the default limits', () => {
  let own;
  before(async () => { own = await startServer(); });
  after(async () => { await own?.stop(); });

  test('bad names get a clear error; creating rooms is rate limited; one user is in at most 50 rooms', async () => {
    const session = await newSession(own.url);
    const client = await tab(session, {}, own.url);
    try {
      for (const bad of ['a b', '<script>', '-x', 'x'.repeat(33), '', 'са']) {
        const answer = await emit(client.socket, 'join', { room: bad });
        assert.equal(answer.rejected?.code, 'invalid', `${bad}: ${JSON.stringify(answer)}`);
      }
      const malformed = await emit(client.socket, 'join', 'dev');
      assert.equal(malformed.rejected?.code, 'malformed');
      const made = [];
      for (let i = 0; i < 8; i += 1) made.push(await emit(client.socket, 'join', { room: `new-${i}` }));
      assert.equal(made.filter((a) => a.joined).length, 5, 'a burst of 5 new rooms');
      const refused = made.find((a) => a.rejected);
      assert.equal(refused.rejected.code, 'rate_limited');
      assert.ok(refused.rejected.retry_after_ms > 1000);
    } finally {
      client.close();
    }
    // 50 rooms made by ten users, then joined by one.
    const makers = [];
    for (let i = 0; i < 10; i += 1) makers.push(await tab(await newSession(own.url), {}, own.url));
    const rooms = [];
    for (const [n, maker] of makers.entries()) {
      for (let i = 0; i < 5; i += 1) {
        rooms.push(`many-${n}-${i}`);
        assert.ok((await emit(maker.socket, 'join', { room: rooms.at(-1) })).joined);
      }
      maker.close();
    }
    const joiner = await tab(await newSession(own.url), {}, own.url);
    try {
      const answers = [];
      for (const room of rooms) {
        let answer = await emit(joiner.socket, 'join', { room });
        while (answer.rejected?.code === 'rate_limited') {
          await new Promise((resolve) => setTimeout(resolve, answer.rejected.retry_after_ms));
          answer = await emit(joiner.socket, 'join', { room });
        }
        answers.push(answer);
      }
      assert.equal(answers.filter((a) => a.joined).length, 49, 'general and 49 more');
      assert.match(answers.at(-1).rejected?.message ?? '', /50 rooms/);
    } finally {
      joiner.close();
    }
  });
});

describe('a request sent the moment the client is connected', () => {
  test('is answered: handlers are in place before the client hears it is connected', async () => {
    const unanswered = [];
    // Rounds of ten tabs of one user each (one address may hold 64
    // connections; a user sends 30 signals at once at most).
    for (let round = 0; round < 5; round += 1) {
      const session = await newSession();
      const answers = await Promise.all(Array.from({ length: 10 }, async () => {
        const socket = ioClient(server.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: session.token } });
        const answer = await new Promise((resolve) => {
          socket.once('connect_error', (error) => resolve(`connect_error: ${error.message}`));
          // Emitted in the same tick as the connect event, before any await.
          socket.once('connect', () => {
            socket.timeout(5000).emit('join', { room: 'general' }, (error, reply) => resolve(error ? 'no answer' : reply));
          });
        });
        socket.close();
        return answer;
      }));
      unanswered.push(...answers.filter((answer) => !answer.joined));
    }
    assert.deepEqual(unanswered, [], 'every join answered');
  });
});
