// Nothing is lost, nothing is doubled: many clients of the official
// socket.io-client send numbered messages with acks and retries while the
// real server (SQLite in a temporary folder) is killed with SIGKILL twice
// and restarted on the same port, writing to three rooms at once. Each
// client resumes with `auth: {token, rooms: {room: lastId}}`. Afterwards
// every client must hold every message exactly once, in each sender's order
// per room, with no gap in any room's ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';

import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';

import { startServer } from './support/server.mjs';

const CLIENTS = 8;
const MESSAGES = 60;
const UNLIMITED = ['--message-burst', '1000000000', '--messages-per-second', '1000000000'];

/** The rooms the SIGKILL test writes to at once. */
const ROOMS = ['general', 'dev', 'ops'];

/**
 * A chat client that keeps every message it has seen, by room and id, and
 * resumes from the last of each room. With a session it is in every room of
 * [ROOMS] (the server remembers them); without one, in general.
 */
function resumingClient(url, name, session) {
  const seen = new Map(ROOMS.map((room) => [room, new Map()]));
  const lastIds = () => Object.fromEntries(ROOMS.map((room) => [room, Math.max(0, ...seen.get(room).keys())]));
  const keep = (message) => {
    const room = seen.get(message.room);
    if (room.has(message.id)) {
      client.duplicates += 1;
      return;
    }
    room.set(message.id, message);
  };
  const socket = io(url, {
    transports: ['websocket'],
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    auth: (cb) => cb({ token: session?.token, lastId: lastIds().general, rooms: lastIds() }),
  });
  socket.on('history', (history) => {
    if (history.reset) {
      // Only a fresh client may be reset: one that resumes must get exactly what it missed.
      assert.equal(lastIds()[history.room], 0, `${name} was reset in ${history.room} after ${lastIds()[history.room]}`);
    }
    for (const message of history.messages) keep(message);
  });
  socket.on('newmessage', keep);
  socket.on('botmessage', keep);
  const client = {
    name, socket, seen, duplicates: 0,
    /** Sends until the server acknowledges it, however often the server dies meanwhile. */
    async sendForSure(body, clientId, room = 'general') {
      for (let attempt = 1; ; attempt += 1) {
        try {
          const ack = await socket.timeout(1000).emitWithAck('newmessage', { user: name, body, client_id: clientId, room });
          if (ack.accepted) return { id: ack.accepted.id, attempts: attempt };
          if (!['overloaded', 'unavailable'].includes(ack.rejected?.code)) {
            throw new Error(`refused: ${JSON.stringify(ack)}`);
          }
        } catch (error) {
          if (error.message?.startsWith('refused')) throw error;
          // No ack in time (the server died): the same message again, same client id.
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    /** Joins the rooms of [ROOMS] besides general, for good. */
    async joinRooms() {
      await new Promise((resolve) => (socket.connected ? resolve() : socket.once('connect', resolve)));
      for (const room of ROOMS.slice(1)) {
        const answer = await socket.timeout(5000).emitWithAck('join', { room });
        assert.ok(answer.joined, JSON.stringify(answer));
      }
    },
  };
  return client;
}

async function newSession(url) {
  const response = await fetch(`${url}/api/session`, { method: 'POST' });
  return response.json();
}

/** Everything stored in `room`, paging back through `older` from the end. */
async function storedIn(client, room) {
  let all = [];
  let before = Number.MAX_SAFE_INTEGER;
  for (let more = true; more;) {
    const older = await client.socket.timeout(5000).emitWithAck('older', { before, room });
    all = [...older.messages, ...all];
    more = older.more;
    before = all[0]?.id;
  }
  return all;
}

test('messages in three rooms at once survive two SIGKILLs of the server, each exactly once and in order', async () => {
  let server = await startServer({ args: UNLIMITED });
  const { port, dataDir } = server;
  const sessions = await Promise.all(Array.from({ length: CLIENTS + 1 }, () => newSession(server.url)));
  const clients = Array.from({ length: CLIENTS }, (_, i) => resumingClient(server.url, `sender${i}`, sessions[i]));
  const sent = [];
  let resends = 0;
  try {
    await Promise.all(clients.map((client) => client.joinRooms()));
    const sending = clients.map(async (client, c) => {
      for (let n = 1; n <= MESSAGES; n += 1) {
        const room = ROOMS[n % ROOMS.length];
        const { id, attempts } = await client.sendForSure(`${client.name} #${n}`, `c${c}-m${n}`, room);
        resends += attempts - 1;
        sent.push({ id, room, sender: client.name, n });
      }
    });
    // Kill the server twice while the clients are sending, without warning.
    for (const share of [1 / 3, 2 / 3]) {
      while (sent.length < CLIENTS * MESSAGES * share) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await server.stop('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 300));
      server = await startServer({ port, dataDir, args: UNLIMITED });
    }
    await Promise.all(sending);

    // Every message the server acknowledged under one id each, per room.
    const expected = CLIENTS * MESSAGES;
    assert.equal(new Set(sent.map((s) => `${s.room}/${s.id}`)).size, expected, 'each acked message has its own id in its room');

    // Wait until every client has caught up with the latest id of each room.
    const deadline = Date.now() + 30_000;
    const behind = () => clients.some((c) => ROOMS.some((room) => {
      const latest = Math.max(...sent.filter((s) => s.room === room).map((s) => s.id));
      return !c.seen.get(room).has(latest);
    }));
    while (behind() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    // Every message gets the bot's answer once, those a kill left unanswered
    // too (asked again at the restart): one reply each from the rule bot here.
    const answers = (client) => {
      const count = new Map();
      for (const room of ROOMS) {
        for (const message of client.seen.get(room).values()) {
          if (message.user === 'ChatFriend') {
            const key = `${room}/${message.answers}`;
            count.set(key, (count.get(key) ?? 0) + 1);
          }
        }
      }
      return sent.map((s) => count.get(`${s.room}/${s.id}`) ?? 0);
    };
    const answerDeadline = Date.now() + 30_000;
    while (answers(clients[0]).some((n) => n === 0) && Date.now() < answerDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const report = { rooms: ROOMS.length, sent: expected, resends, stored: 0, delivered: [], duplicates: [], gaps: [] };
    const answerCounts = answers(clients[0]);
    report.unanswered = answerCounts.filter((n) => n === 0).length;
    report.answeredTwice = answerCounts.filter((n) => n > 1).length;
    // What the server stored, room by room, read by a fresh client of a session in every room.
    const reader = resumingClient(server.url, 'reader', sessions[CLIENTS]);
    await reader.joinRooms();
    for (const room of ROOMS) {
      const all = await storedIn(reader, room);
      report.stored += all.filter((m) => m.user !== 'ChatFriend').length;
    }
    reader.socket.close();

    for (const client of clients) {
      let delivered = 0;
      let gaps = 0;
      let doubled = client.duplicates;
      for (const room of ROOMS) {
        const seen = client.seen.get(room);
        const ids = [...seen.keys()].sort((a, b) => a - b);
        gaps += ids.filter((id, i) => i > 0 && id !== ids[i - 1] + 1).length + (ids[0] === 1 ? 0 : 1);
        const mine = [...seen.values()].filter((m) => m.user !== 'ChatFriend');
        delivered += mine.length;
        doubled += mine.length - new Set(mine.map((m) => m.body)).size;
        // Each sender's messages in the room, in the order they were sent.
        for (const other of clients) {
          const numbers = ids
            .map((id) => seen.get(id))
            .filter((m) => m.user === other.name)
            .map((m) => Number(m.body.split('#')[1]));
          const inRoom = Array.from({ length: MESSAGES }, (_, i) => i + 1).filter((n) => ROOMS[n % ROOMS.length] === room);
          assert.deepEqual(numbers, inRoom, `${client.name} sees ${other.name}'s messages in ${room} once each, in order`);
        }
      }
      report.delivered.push(delivered);
      report.duplicates.push(doubled);
      report.gaps.push(gaps);
    }
    console.log(`# durability: ${JSON.stringify(report)}`);
    assert.equal(report.stored, expected, 'every message stored once');
    assert.ok(report.delivered.every((d) => d === expected), `every client got all ${expected}`);
    assert.ok(report.duplicates.every((d) => d === 0), 'no duplicates');
    assert.ok(report.gaps.every((g) => g === 0), 'no gaps');
    assert.ok(resends > 0, 'the kills really interrupted sending');
    assert.equal(report.unanswered, 0, 'the bot answered every message, those the kills interrupted too');
    assert.equal(report.answeredTwice, 0, 'and each once');
  } finally {
    for (const client of clients) client.socket.close();
    await server.stop();
  }
});

test('when storage is full the sender is told, gets no acceptance, and nothing stored is lost', async () => {
  // A 64 KiB cap on the SQLite file fails writes exactly as a full disk does.
  const server = await startServer({ args: [...UNLIMITED, '--store-max-kib', '64'] });
  const client = resumingClient(server.url, 'ann');
  const errors = [];
  client.socket.on('chaterror', (error) => errors.push(error));
  try {
    const body = 'x'.repeat(1900);
    const accepted = [];
    let refusal;
    for (let n = 1; n <= 200 && !refusal; n += 1) {
      const ack = await client.socket.timeout(5000).emitWithAck('newmessage', { user: 'ann', body: `${n} ${body}`, client_id: `full-${n}` });
      if (ack.accepted) accepted.push(ack.accepted.id);
      else refusal = ack.rejected;
    }
    assert.ok(accepted.length > 0, 'some messages fit');
    assert.equal(refusal?.code, 'unavailable', `refused as unavailable: ${JSON.stringify(refusal)}`);
    assert.match(refusal.message, /could not save your message/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(errors.some((e) => e.code === 'unavailable'), 'a chaterror too');
    // Nobody saw the refused message; everything acknowledged is still there after a restart.
    const refusedBody = `${accepted.length + 1} `;
    assert.ok(![...client.seen.get('general').values()].some((m) => m.body.startsWith(refusedBody)), 'the refused message was not broadcast');
    await server.stop('SIGKILL');
    const again = await startServer({ port: server.port, dataDir: server.dataDir, args: UNLIMITED });
    try {
      const reader = resumingClient(again.url, 'reader');
      const history = await new Promise((resolve) => reader.socket.once('history', resolve));
      reader.socket.close();
      const ids = history.messages.filter((m) => m.user === 'ann').map((m) => m.id);
      for (const id of accepted) assert.ok(ids.includes(id), `message ${id} survived`);
    } finally {
      await again.stop();
    }
  } finally {
    client.socket.close();
    await server.stop();
  }
});

test('when the history file is read-only the server still shows it and refuses new messages clearly', async () => {
  const first = await startServer();
  const writer = resumingClient(first.url, 'ann');
  const ack = await writer.sendForSure('stored before', 'ro-1');
  writer.socket.close();
  await first.stop();
  for (const file of ['chat.db', 'chat.db-wal', 'chat.db-shm']) {
    const path = join(first.dataDir, file);
    if (existsSync(path)) chmodSync(path, 0o444);
  }
  // Permissions do not stop root, so the server runs unprivileged.
  const server = await startServer({ port: first.port, dataDir: first.dataDir, asNobody: true });
  const client = resumingClient(server.url, 'bob');
  const errors = [];
  client.socket.on('chaterror', (error) => errors.push(error));
  try {
    const history = await new Promise((resolve) => client.socket.once('history', resolve));
    assert.ok(history.messages.some((m) => m.id === ack.id && m.body === 'stored before'), 'the history is shown');
    const answer = await client.socket.timeout(5000).emitWithAck('newmessage', { user: 'bob', body: 'not storable', client_id: 'ro-2' });
    assert.equal(answer.rejected?.code, 'unavailable', JSON.stringify(answer));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(errors.some((e) => e.code === 'unavailable'), 'a chaterror too');
    assert.ok(![...client.seen.get('general').values()].some((m) => m.body === 'not storable'), 'nobody saw it');
    assert.match(server.log(), /read-only/);
  } finally {
    client.socket.close();
    await server.stop();
  }
});
