// The chat hub as the official socket.io-client sees it, against the real
// chat-server binary on a port chosen by the OS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { startServer, tempDataDir } from './support/server.mjs';
import { connect, send } from './support/client.mjs';
import { expect } from './support/expect.mjs';

const TRANSPORTS = {
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'] },
  'polling upgraded to websocket': { transports: ['polling', 'websocket'] },
};

const QUESTION_REPLIES = ['Hello, ann!', 'We will be right with you to answer your question.'];

// Every test here connects from 127.0.0.1, one client address, which the
// limits count together; the flood test below gets the defaults.
const ONE_ADDRESS_MANY_TESTS = [
  '--message-burst', '1000', '--messages-per-second', '1000',
  '--connect-burst', '1000', '--connects-per-second', '1000',
];

let server;
before(async () => { server = await startServer({ args: ONE_ADDRESS_MANY_TESTS }); });
after(async () => { await server?.stop(); });

async function pair(options) {
  const a = await connect(server.url, options);
  const b = await connect(server.url, options);
  return { a, b, close: () => { a.socket.close(); b.socket.close(); } };
}

for (const [name, options] of Object.entries(TRANSPORTS)) {
  describe(`over ${name}`, () => {
    test('both clients receive the message and then the bot replies in order', async () => {
      const { a, b, close } = await pair(options);
      try {
        const ack = await send(a.socket, { user: 'ann', body: 'hello there?' });
        assert.ok(ack.accepted, `expected an accepted ack, got ${JSON.stringify(ack)}`);

        for (const { inbox } of [a, b]) {
          const [message] = await inbox.take('newmessage');
          assert.equal(message.user, 'ann');
          assert.equal(message.body, 'hello there?');
          assert.equal(message.id, ack.accepted.id);
          assert.ok(Math.abs(message.sent_at - Date.now()) < 60_000, 'timestamp is now');

          const replies = await inbox.take('botmessage', 2);
          assert.deepEqual(replies.map((r) => r.body), QUESTION_REPLIES);
          assert.ok(replies.every((r) => r.user === 'ChatFriend'));
          assert.ok(replies[0].id > message.id && replies[1].id > replies[0].id, 'ids grow');
          const order = inbox.events.filter((e) => e.name !== 'disconnect').map((e) => e.name);
          // What it missed (nothing yet) always comes first, then live messages.
          assert.deepEqual(order, ['history', 'newmessage', 'botmessage', 'botmessage']);
        }
        if (name.includes('upgraded')) {
          assert.equal(a.socket.io.engine.transport.name, 'websocket', 'the session was upgraded');
        }
      } finally {
        close();
      }
    });
  });
}

test('a client that does not ask for an ack is served like the tutorial client', async () => {
  const { a, b, close } = await pair({});
  try {
    a.socket.emit('newmessage', { user: 'bob', body: 'nice weather' });
    const [message] = await b.inbox.take('newmessage');
    assert.equal(message.body, 'nice weather');
    const [reply] = await b.inbox.take('botmessage');
    assert.deepEqual([reply.user, reply.body], ['ChatFriend', 'Did you have a question for us today?']);
  } finally {
    close();
  }
});

test('HTML in a message is delivered verbatim, for the page to show as text', async () => {
  const { a, b, close } = await pair({});
  try {
    const body = '<img src=x onerror=alert(1)>';
    await send(a.socket, { user: '<b>eve</b>', body });
    const [message] = await b.inbox.take('newmessage');
    assert.equal(message.body, body);
    assert.equal(message.user, '<b>eve</b>');
  } finally {
    close();
  }
});

describe('invalid input', () => {
  const cases = [
    ['a missing body', { user: 'ann' }, 'malformed'],
    ['a missing user', { body: 'hi' }, 'malformed'],
    ['a string instead of an object', 'hello', 'malformed'],
    ['a number for the body', { user: 'ann', body: 42 }, 'malformed'],
    ['null', null, 'malformed'],
    ['an empty name', { user: '', body: 'hi' }, 'invalid', 'Please complete the form to send a message'],
    ['a blank body', { user: 'ann', body: '   ' }, 'invalid', 'Please complete the form to send a message'],
    ['a body over 2000 characters', { user: 'ann', body: 'x'.repeat(2001) }, 'invalid', 'Your message is too long: at most 2000 characters'],
    ['a name over 32 characters', { user: 'n'.repeat(33), body: 'hi' }, 'invalid', 'Your name is too long: at most 32 characters'],
    ['the bot name', { user: 'ChatFriend', body: 'I am the bot' }, 'invalid', 'The name ChatFriend belongs to the bot'],
    ['a control character', { user: 'ann', body: 'bell\u0007' }, 'invalid', 'Your message cannot contain control characters'],
  ];

  test('each gets a clear error, to the sender only, and nothing is broadcast', async () => {
    const { a, b, close } = await pair({});
    try {
      for (const [, payload, code, message] of cases) {
        const ack = await send(a.socket, payload);
        assert.equal(ack.rejected?.code, code, `ack for ${JSON.stringify(payload)}: ${JSON.stringify(ack)}`);
        if (message) assert.equal(ack.rejected.message, message);
        else assert.match(ack.rejected.message, /"user" and "body"/);
      }
      // The error event reaches the sender even without an ack.
      a.socket.emit('newmessage', { user: 'ann' });
      const errors = await a.inbox.take('chaterror', cases.length + 1);
      assert.deepEqual(errors.map((e) => e.code), [...cases.map((c) => c[2]), 'malformed']);

      // A valid message afterwards is the first thing the other client sees.
      await send(a.socket, { user: 'ann', body: 'finally valid' });
      const [first] = await b.inbox.take('newmessage');
      assert.equal(first.body, 'finally valid');
      assert.equal(b.inbox.all('chaterror').length, 0, 'errors go to the sender only');
    } finally {
      close();
    }
  });

  test('a flood is slowed down with an error, and the server keeps serving', async () => {
    const own = await startServer();
    const a = await connect(own.url);
    const b = await connect(own.url);
    const close = () => { a.socket.close(); b.socket.close(); return own.stop(); };
    try {
      const acks = await Promise.all(
        Array.from({ length: 40 }, (_, i) => send(a.socket, { user: 'flood', body: `message ${i}` })),
      );
      const accepted = acks.filter((ack) => ack.accepted).length;
      const limited = acks.filter((ack) => ack.rejected?.code === 'rate_limited');
      assert.ok(accepted >= 10 && accepted < 40, `accepted ${accepted} of 40`);
      assert.equal(accepted + limited.length, 40);
      assert.match(limited[0].rejected.message, /too fast/);
      // Every accepted message reached the other client, in order.
      const seen = await b.inbox.take('newmessage', accepted);
      const numbers = seen.map((m) => Number(m.body.split(' ')[1]));
      assert.deepEqual(numbers, [...numbers].sort((x, y) => x - y));

      // The limit is the address's: another address still gets through.
      const other = await connect(own.url, { transports: ['websocket'], localAddress: '127.0.0.2' });
      try {
        assert.ok((await send(other.socket, { user: 'calm', body: 'still there?' })).accepted);
      } finally {
        other.socket.close();
      }
    } finally {
      await close();
    }
  });

  test('an oversized packet closes that connection only', async () => {
    const { a, b, close } = await pair({ transports: ['websocket'] });
    try {
      a.socket.emit('newmessage', { user: 'big', body: 'x'.repeat(200_000) });
      const [reason] = await a.inbox.take('disconnect');
      assert.match(reason, /transport (close|error)/);
      assert.ok(await send(b.socket, { user: 'ann', body: 'still here' }).then((ack) => ack.accepted));
      assert.equal(b.inbox.all('newmessage').some((m) => m.user === 'big'), false);
    } finally {
      close();
    }
  });

  test('malformed raw packets never take the server down', async () => {
    const url = `${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;
    const garbage = ['', '9', '4', '42', '42[not json', '42{"a":1}', '45-["x"]', '40/nope,', '42["newmessage"', '\u0000\u0001', '4'.repeat(10_000)];
    for (const frame of garbage) {
      const ws = new WebSocket(url);
      await new Promise((resolve, reject) => { ws.once('message', resolve); ws.once('error', reject); });
      ws.send('40');
      ws.send(frame);
      ws.close();
    }
    const { a, b, close } = await pair({});
    try {
      await send(a.socket, { user: 'ann', body: 'after the garbage' });
      const [message] = await b.inbox.take('newmessage');
      assert.equal(message.body, 'after the garbage');
      assert.ok(server.alive());
    } finally {
      close();
    }
  });
});

describe('HTTP', () => {
  test('GET /healthz answers ok', async () => {
    const response = await fetch(`${server.url}/healthz`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'ok');
  });

  test('the page and unknown paths both serve the chat page', async () => {
    for (const path of ['/', '/some/client/route']) {
      const response = await fetch(`${server.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(await response.text(), /<html/i, path);
    }
  });
});

describe('the log', () => {
  // The info level, and without NO_COLOR: the server itself must see that stderr is no terminal.
  const env = { RUST_LOG: 'info', NO_COLOR: undefined };

  test('is plain text without colour codes when stderr is not a terminal', async () => {
    const own = await startServer({ env });
    try {
      await expect(() => own.log(), (log) => /bot engine and message store/.test(log));
      assert.ok(!own.log().includes('\u001b['), 'no ANSI escape codes');
    } finally {
      await own.stop();
    }
  });

  test('is one JSON object per line with --log-format json', async () => {
    const own = await startServer({ args: ['--log-format', 'json'], env });
    try {
      await expect(() => own.log(), (log) => /bot engine and message store/.test(log));
      const lines = own.log().split('\n').filter((line) => line.trim() !== '');
      assert.ok(lines.length > 0);
      const entries = lines.map((line) => JSON.parse(line));
      const start = entries.find((entry) => entry.fields?.message === 'bot engine and message store');
      assert.equal(start.level, 'INFO');
      assert.equal(start.fields.engine, 'rules');
      assert.ok(!Number.isNaN(Date.parse(start.timestamp)));
    } finally {
      await own.stop();
    }
  });
});

describe('/metrics', () => {
  test('counts connections, messages by outcome, appends, catch-ups and the bot, in the Prometheus text format', async () => {
    const own = await startServer({ args: ['--node-id', 'node-a'] });
    const ws = await connect(own.url, { transports: ['websocket'] });
    const polling = await connect(own.url, { transports: ['polling'] });
    try {
      assert.ok((await send(ws.socket, { user: 'ann', body: 'hello?' })).accepted);
      assert.ok((await send(polling.socket, { user: 'bob', body: 'hi' })).accepted);
      assert.equal((await send(ws.socket, { user: '', body: 'x' })).rejected.code, 'invalid');
      assert.equal((await send(ws.socket, { body: 'no name' })).rejected.code, 'malformed');
      await ws.inbox.take('botmessage', 4);
      const response = await fetch(`${own.url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type'), /^application\/openmetrics-text/);
      const text = await response.text();
      const value = (series) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        assert.ok(line, `${series} in:\n${text}`);
        return Number(line.split(' ').at(-1));
      };
      assert.equal(value('chat_node_info{node="node-a"}'), 1);
      assert.equal(value('chat_connections{transport="websocket"}'), 1);
      assert.equal(value('chat_connections{transport="polling"}'), 1);
      assert.equal(value('chat_messages_total{outcome="accepted"}'), 2);
      assert.equal(value('chat_messages_total{outcome="invalid"}'), 1);
      assert.equal(value('chat_messages_total{outcome="malformed"}'), 1);
      // Two messages and the bot's four replies, in one or more batches.
      assert.equal(value('chat_batch_messages_sum'), 6);
      assert.ok(value('chat_append_seconds_count') >= 2);
      assert.equal(value('chat_catch_up_messages_count'), 2, 'one catch-up per socket entering general');
      assert.equal(value('chat_bot_seconds_count'), 2);
      assert.equal(value('chat_bot_failures_total'), 0);
      assert.match(text, /# EOF\n?$/);
    } finally {
      ws.socket.close();
      polling.socket.close();
      await own.stop();
    }
  });
});

describe('the token secret, shared and rotated', () => {
  test('a node given the old secret as --previous-secret-file accepts its sessions and signs new ones with its own', async () => {
    const folder = tempDataDir();
    const [oldSecret, newSecret] = [join(folder, 'old'), join(folder, 'new')];
    const old = await startServer({ args: ['--secret-file', oldSecret] });
    const rotated = await startServer({ args: ['--secret-file', newSecret, '--previous-secret-file', oldSecret] });
    const sockets = [];
    try {
      const ann = await (await fetch(`${old.url}/api/session`, { method: 'POST' })).json();
      const onRotated = await connect(rotated.url, { transports: ['websocket'], auth: { token: ann.token } });
      sockets.push(onRotated.socket);
      const [welcome] = await onRotated.inbox.take('rooms');
      assert.equal(welcome.user_id, ann.userId, 'the old session is the same user on the rotated node');

      const bob = await (await fetch(`${rotated.url}/api/session`, { method: 'POST' })).json();
      assert.notEqual(bob.token.split('.')[1], ann.token.split('.')[1]);
      await assert.rejects(
        connect(old.url, { transports: ['websocket'], auth: { token: bob.token } }),
        /invalid session token/,
        'a token of the new secret means nothing to a node without it',
      );
      assert.ok(existsSync(newSecret), 'the new secret file was made');
    } finally {
      for (const socket of sockets) socket.close();
      await old.stop();
      await rotated.stop();
    }
  });

  test('a previous secret file that is missing stops the server with a clear error', async () => {
    const missing = join(tempDataDir(), 'nothing-here');
    await assert.rejects(
      startServer({ args: ['--previous-secret-file', missing] }),
      (error) => error.message.includes(missing),
    );
  });
});
