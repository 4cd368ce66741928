// A crowd entering at once, against the real chat-server binary: thousands
// of sockets connect together, as after a restart or a network blip, while
// someone already in the room keeps chatting. Every socket entering a room
// is sent that room's history first, which takes the server a while for
// each; those joins must wait their turn without the chatting person's
// messages being refused as `overloaded` meanwhile (they were, when joins
// and messages shared one queue of 4,096).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

import { startServer, UNLIMITED } from './support/server.mjs';
import { connect } from './support/client.mjs';

/** More sockets than the messages' queue holds. */
const CROWD = 4500;

/** Loopback addresses the crowd comes from. */
const ADDRESSES = 90;

/** How long the crowd may take to be in the room, and each ack to come. */
const PATIENCE_MS = 120_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a crowd entering at once', () => {
  let server;
  before(async () => {
    // The crowd is people, not an attacker, and the person types fast: the
    // limits are lifted so that the joins, not the limits, are what is tested.
    server = await startServer({
      args: [...UNLIMITED, '--connect-burst', '1000000', '--connects-per-second', '1000000', '--max-connections-per-address', '1000000'],
    });
  });
  after(async () => { await server?.stop(); });

  test(`${CROWD.toLocaleString('en')} sockets entering the room do not get a chatting person's messages refused`, async () => {
    const { socket } = await connect(server.url, { transports: ['websocket'] });
    // A message every 100 ms while the crowd connects and for 2 s after,
    // when most joins wait: the person types on without waiting for acks.
    const acks = [];
    let n = 0;
    const typing = setInterval(() => {
      n += 1;
      acks.push(socket.timeout(PATIENCE_MS).emitWithAck('newmessage', { user: 'ann', body: `still here ${n}`, client_id: `crowd-${n}` }));
    }, 100);
    const started = Date.now();
    const crowd = new Worker(new URL('./support/crowd.mjs', import.meta.url), {
      workerData: { port: server.port, count: CROWD, addresses: ADDRESSES },
    });
    try {
      const [entered] = await once(crowd, 'message');
      const connectedMs = Date.now() - started;
      await sleep(2000);
      clearInterval(typing);
      // Everyone is in once a message sent now reaches all of them.
      const heard = once(crowd, 'message');
      crowd.postMessage({ await: 'everyone in' });
      const last = await socket.timeout(PATIENCE_MS).emitWithAck('newmessage', { user: 'ann', body: 'everyone in', client_id: 'crowd-last' });
      const outcomes = await Promise.all(acks);
      let timer;
      const everyoneIn = last.accepted
        && await Promise.race([heard.then(() => true), new Promise((resolve) => { timer = setTimeout(resolve, PATIENCE_MS, false); })]);
      clearTimeout(timer);
      const inMs = Date.now() - started;

      const refused = outcomes.filter((ack) => !ack.accepted);
      console.log(`# ${entered.connected} of ${CROWD} connected in ${connectedMs} ms, all in the room after ${inMs} ms; `
        + `meanwhile ${outcomes.length} messages sent, ${refused.length} refused${refused.length ? `: ${JSON.stringify(refused[0])}` : ''}`);
      assert.equal(entered.failed, 0, `every socket of the crowd connected (first error: ${entered.firstError})`);
      assert.ok(outcomes.length >= 3, 'messages were sent while the crowd came in');
      assert.deepEqual(refused, [], 'no message was refused while the crowd came in');
      assert.ok(last.accepted, `the last message was accepted: ${JSON.stringify(last)}`);
      assert.ok(everyoneIn, 'every socket of the crowd heard the last message');
      assert.ok(server.alive(), 'the server is still running');
    } finally {
      clearInterval(typing);
      crowd.postMessage({ close: true });
      await sleep(100);
      await crowd.terminate();
      socket.close();
    }
  });
});
