// A burst that fills whole batches reaches every socket live, on one
// network thread. Group commit stores up to 256 messages in one batch, and
// the rule bot's two answers to each greeting go with them: the publisher
// then has hundreds of events for every socket at once, and each socket's
// queue holds 256. On one thread (`--workers 1`, the default on two cores)
// the sockets' writers run only when the publisher pauses; without those
// pauses every listener lost live messages to a full queue, however fast
// it read.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connect, send } from './support/client.mjs';
import { expect } from './support/expect.mjs';
import { UNLIMITED, startServer } from './support/server.mjs';

const SENDERS = 16;
const EACH = 50;
/** A greeting: the rule bot answers it with two lines. */
const GREETING = 'hello';
const LINES_PER_GREETING = 3;

test('a burst of whole batches reaches every listener live, in order, on one network thread', async () => {
  const server = await startServer({ args: [...UNLIMITED, '--workers', '1'] });
  const sockets = [];
  try {
    const listeners = await Promise.all([1, 2].map(() => connect(server.url, { transports: ['websocket'] })));
    const senders = await Promise.all(
      Array.from({ length: SENDERS }, () => connect(server.url, { transports: ['websocket'] })),
    );
    sockets.push(...listeners, ...senders);
    await Promise.all(sockets.map(({ inbox }) => inbox.take('history')));

    // Every sender sends all of its messages without waiting for an ack.
    const acks = await Promise.all(senders.flatMap(({ socket }, s) => Array.from(
      { length: EACH },
      (_, i) => send(socket, { user: `sender${s}`, body: `${GREETING} ${s}/${i}`, client_id: `b-${s}-${i}` }, 20_000),
    )));
    const refused = acks.filter((ack) => !ack.accepted);
    assert.deepEqual(refused, [], 'every message accepted');

    const expected = SENDERS * EACH * LINES_PER_GREETING;
    const live = ({ inbox }) => [...inbox.all('newmessage'), ...inbox.all('botmessage')];
    for (const listener of listeners) {
      await expect(() => live(listener).length, (n) => n >= expected, { timeout: 20_000 });
      assert.equal(listener.inbox.all('disconnect').length, 0, 'the listener stayed connected');
      const ids = listener.inbox.events
        .filter((e) => e.name === 'newmessage' || e.name === 'botmessage')
        .map((e) => e.args[0].id);
      assert.equal(ids.length, expected, 'nothing delivered twice');
      // In id order with no gap: nothing was dropped on the way.
      ids.forEach((id, i) => assert.equal(id, ids[0] + i, `id ${ids[0] + i} missing or out of order`));
      const bodies = new Set(listener.inbox.all('newmessage').map((m) => m.body));
      assert.equal(bodies.size, SENDERS * EACH, 'every sender\'s every message');
    }
  } finally {
    for (const { socket } of sockets) socket.close();
    await server.stop();
  }
});
