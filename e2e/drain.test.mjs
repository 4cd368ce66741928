// A node stopped with SIGTERM (a rolling restart) drains before it goes:
// `/readyz` turns 503 while `/healthz` stays 200, new sessions are refused
// with 503 (a balancer passes them to another node), new messages are
// refused as retryable, and what was accepted before, the bot's slow
// answers included, is stored and delivered before the sockets are closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connect } from './support/client.mjs';
import { startServer, tempDataDir } from './support/server.mjs';
import { startFakeOpenAI } from './fixtures/fake-engines.mjs';

const PIECES = ['Slow ', 'but ', 'sure.'];

test('SIGTERM: not ready, nothing new taken, the answers in flight delivered, then the sockets closed', async () => {
  // An engine that takes about 1.5 s for every answer.
  const engine = await startFakeOpenAI({ pieces: PIECES, gap: 500 });
  const dataDir = tempDataDir();
  const args = ['--bot', 'openai', '--openai-url', engine.url, '--openai-model', 'tiny'];
  const server = await startServer({ dataDir, args, env: { RUST_LOG: 'info' } });
  const session = await (await fetch(`${server.url}/api/session`, { method: 'POST' })).json();
  const { socket, inbox } = await connect(server.url, { transports: ['websocket'], auth: { token: session.token } });
  try {
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    await inbox.take('history');

    // A question in the group room and one in the private conversation, both accepted.
    const group = await socket.timeout(5000).emitWithAck('newmessage', { user: 'Ann', body: 'group question', client_id: 'g1' });
    assert.ok(group.accepted, JSON.stringify(group));
    const own = await socket.timeout(5000).emitWithAck('message', JSON.stringify({ text: 'private question', client_id: 'p1' }));
    assert.ok(own.accepted, JSON.stringify(own));

    const stopped = server.stop('SIGTERM');
    // Draining: not ready, but alive.
    const deadline = Date.now() + 1000;
    while ((await fetch(`${server.url}/readyz`)).status !== 503) {
      assert.ok(Date.now() < deadline, '/readyz turned 503');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, '/healthz stays 200');
    // No new session.
    const handshake = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(handshake.status, 503);
    assert.equal(handshake.headers.get('retry-after'), '1');
    assert.match(await handshake.text(), /restarting/);
    // No new message, in either conversation: each is to be sent again (elsewhere).
    const late = await socket.timeout(5000).emitWithAck('newmessage', { user: 'Ann', body: 'too late', client_id: 'g2' });
    assert.equal(late.rejected?.code, 'unavailable', JSON.stringify(late));
    assert.match(late.rejected.message, /restarting/);
    assert.ok(late.rejected.retry_after_ms > 0);
    const latePrivate = await socket.timeout(5000).emitWithAck('message', JSON.stringify({ text: 'too late', client_id: 'p2' }));
    assert.equal(latePrivate.rejected?.code, 'unavailable', JSON.stringify(latePrivate));

    // The answers in flight arrive, and only then is the socket closed.
    const [reason] = await inbox.take('disconnect', 1, 10_000);
    // The connection ends (not a namespace disconnect, after which
    // socket.io-client would not reconnect by itself).
    assert.equal(reason, 'transport close');
    await stopped;
    assert.deepEqual(server.status(), { code: 0, signal: null }, 'a clean exit');
    const names = inbox.events.map((event) => event.name);
    const answer = inbox.events.find((event) => event.name === 'botmessage');
    assert.ok(answer, `the group answer came before the close: ${names.join(', ')}`);
    assert.equal(answer.args[0].body, PIECES.join(''));
    assert.equal(answer.args[0].answers, group.accepted.id);
    const privateAnswer = inbox.events.find((event) => event.name === 'message' && JSON.parse(event.args[0]).message?.text === PIECES.join(''));
    assert.ok(privateAnswer, `the private answer came before the close: ${names.join(', ')}`);
    assert.ok(names.indexOf('botmessage') < names.indexOf('disconnect'));
    assert.ok(server.log().includes('drained'), server.log());

    // Restarted, the node holds both conversations once each, without what came too late.
    const again = await startServer({ dataDir, args });
    const reader = await connect(again.url, { transports: ['websocket'], auth: { token: session.token } });
    try {
      const [history] = await reader.inbox.take('history');
      assert.deepEqual(history.messages.map((m) => [m.user, m.body]), [['Ann', 'group question'], ['ChatFriend', PIECES.join('')]]);
      const [privateHistory] = await reader.inbox.take('bothistory');
      const lines = (typeof privateHistory === 'string' ? JSON.parse(privateHistory) : privateHistory);
      assert.deepEqual(lines.map((line) => [line.from_bot, line.message.text]), [[false, 'private question'], [true, PIECES.join('')]], JSON.stringify(lines));
    } finally {
      reader.socket.close();
      await again.stop();
    }
  } finally {
    socket.close();
    await server.stop();
    await engine.close();
  }
});
