// A chat client of the official socket.io-client that keeps every message
// it has seen, by room and id, resumes from the last of each room, and
// sends with acks and resends until a message is stored. The durability
// tests run many of them while they kill servers (and databases).
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';

/**
 * A client in every room of `rooms` (with a session; the server remembers
 * them) or in the first one (general) without. `urls` is one server, which
 * it reconnects to as socket.io does, or several nodes: whenever its
 * connection ends it goes to the next, resuming there. `options` add to
 * (or replace) the socket.io-client options (WebSocket only by default).
 */
export function resumingClient(urls, name, session, rooms, options = {}) {
  const nodes = Array.isArray(urls) ? urls : [urls];
  const seen = new Map(rooms.map((room) => [room, new Map()]));
  const lastIds = () => Object.fromEntries(rooms.map((room) => [room, Math.max(0, ...seen.get(room).keys())]));
  const keep = (message) => {
    const room = seen.get(message.room);
    if (room.has(message.id)) {
      client.duplicates += 1;
      return;
    }
    room.set(message.id, message);
  };
  const failover = nodes.length > 1;
  let turn = 0;
  let closed = false;
  let retry = null;
  const connect = () => {
    const socket = io(nodes[turn % nodes.length], {
      transports: ['websocket'],
      forceNew: true,
      reconnection: !failover,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      auth: (cb) => cb({ token: session?.token, lastId: lastIds().general, rooms: lastIds() }),
      ...options,
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
    if (failover) {
      const next = () => {
        if (closed || retry) return;
        socket.close();
        retry = setTimeout(() => {
          retry = null;
          turn += 1;
          client.failovers += 1;
          connect();
        }, 100);
      };
      socket.on('disconnect', next);
      socket.on('connect_error', next);
    }
    client.socket = socket;
  };
  const client = {
    name, seen, duplicates: 0, failovers: 0, socket: null,
    /** The latest attempt to send: its message, node and answer (or error), for a stalled test to show. */
    last: null,
    /** Retryable refusals met, by code. */
    refusals: {},
    /** Sends until the server acknowledges it, however often servers die meanwhile. */
    async sendForSure(body, clientId, room = 'general') {
      for (let attempt = 1; ; attempt += 1) {
        // A test that failed closes its clients: stop, so it can end and say why.
        if (closed) throw new Error(`${name} was closed before ${clientId} was acknowledged`);
        try {
          const ack = await client.socket.timeout(1000).emitWithAck('newmessage', { user: name, body, client_id: clientId, room });
          client.last = { clientId, attempt, node: nodes[turn % nodes.length], ack };
          if (ack.accepted) return { id: ack.accepted.id, attempts: attempt };
          if (!['overloaded', 'unavailable'].includes(ack.rejected?.code)) {
            throw new Error(`refused: ${JSON.stringify(ack)}`);
          }
          client.refusals[ack.rejected.code] = (client.refusals[ack.rejected.code] ?? 0) + 1;
        } catch (error) {
          if (error.message?.startsWith('refused')) throw error;
          client.last = { clientId, attempt, node: nodes[turn % nodes.length], error: error.message };
          // No ack in time (the server died): the same message again, same client id.
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    /** Joins the rooms besides general, for good. */
    async joinRooms() {
      await client.connected();
      for (const room of rooms.slice(1)) {
        const answer = await client.socket.timeout(5000).emitWithAck('join', { room });
        assert.ok(answer.joined, JSON.stringify(answer));
      }
    },
    /** Resolves once connected. */
    async connected() {
      while (!client.socket.connected) {
        if (closed) throw new Error(`${name} was closed before it connected`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    /** Resolves once its connection has moved from long-polling to WebSocket. */
    async upgraded() {
      while (client.socket.io.engine?.transport?.name !== 'websocket') {
        if (closed) throw new Error(`${name} was closed before it upgraded`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close() {
      closed = true;
      clearTimeout(retry);
      client.socket.close();
    },
  };
  connect();
  return client;
}

/** A new session (user id and token) from the server at `url`. */
export async function newSession(url) {
  const response = await fetch(`${url}/api/session`, { method: 'POST' });
  return response.json();
}

/** Everything stored in `room`, paging back through `older` from the end. */
export async function storedIn(client, room) {
  let all = [];
  let before = Number.MAX_SAFE_INTEGER;
  for (let more = true, failures = 0; more;) {
    const older = await client.socket.timeout(5000).emitWithAck('older', { before, room });
    if (!Array.isArray(older?.messages)) {
      // The store could not read just now (a fault test cuts its
      // connections): asked again, a few times.
      failures += 1;
      if (failures > 20) throw new Error(`cannot read the history: ${JSON.stringify(older)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    all = [...older.messages, ...all];
    more = older.more;
    before = all[0]?.id;
  }
  return all;
}
