// Botmaster's shapes, against the published Botmaster itself: botmaster
// 3.2.0 + botmaster-socket.io 1.0.3 (socket.io 1.7) with an echo
// middleware, spoken to with socket.io-client 1.7; and chat-server with an
// echoing engine (Rasa's REST channel, as e2e/fixtures/fake-engines.mjs
// follows it), spoken to with socket.io-client 4. The same script sends
// each shape from one of two tabs of a user and records what both tabs get.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as ioV4 } from 'socket.io-client';

import { startServer } from './support/server.mjs';
import { startFakeRasa } from './fixtures/fake-engines.mjs';

const require = createRequire(import.meta.url);
const ioV1 = require('socket.io-client-v1');
const HERE = dirname(fileURLToPath(import.meta.url));

const TEXT = 'hello there';
/** What the fake Rasa answers TEXT with. */
const OUR_ANSWER = `You picked ${TEXT}`;
const SHAPES = {
  'Botmaster 3: {message: {text}}': { message: { text: TEXT } },
  'Botmaster 2: {text}': { text: TEXT },
  "the tutorial's page: JSON.stringify({text})": JSON.stringify({ text: TEXT }),
};

/** Events of Botmaster's own vocabulary; ours adds usermessage, bothistory, botstream. */
const BOTMASTER_EVENTS = new Set(['message', 'own message']);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the published Botmaster; resolves {url, stop}. */
async function startReference() {
  const child = spawn(process.execPath, [join(HERE, 'fixtures', 'botmaster-reference', 'server.cjs')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  child.stderr.on('data', (chunk) => { errors += chunk; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`the reference Botmaster exited with ${code}: ${errors}`)));
  });
  return {
    url,
    errors: () => errors,
    async stop() { const exited = once(child, 'exit'); child.kill('SIGTERM'); await exited; },
  };
}

/** Records every event a socket gets: [name, payload]. */
function record(socket, v1) {
  const events = [];
  if (v1) {
    const onevent = socket.onevent;
    socket.onevent = function (packet) { events.push(packet.data.slice(0, 2)); return onevent.call(this, packet); };
  } else {
    socket.onAny((name, payload) => events.push([name, payload]));
  }
  return events;
}

/**
 * Two tabs of a fresh user send `shape` from the first; resolves what each
 * tab got of Botmaster's events in the next second.
 */
async function run(url, shape, v1) {
  const user = `u${Math.random().toString(36).slice(2, 10)}`;
  const open = () => (v1
    ? ioV1(`${url}?botmasterUserId=${user}`, { forceNew: true, transports: ['websocket'], reconnection: false })
    : ioV4(`${url}/?botmasterUserId=${user}`, { forceNew: true, transports: ['websocket'], reconnection: false }));
  const tabs = [open(), open()];
  const events = tabs.map((tab) => record(tab, v1));
  await Promise.all(tabs.map((tab) => new Promise((resolve, reject) => {
    tab.once('connect', resolve);
    tab.once('connect_error', reject);
  })));
  tabs[0].send(shape);
  await sleep(1000);
  for (const tab of tabs) tab.close();
  const botmasters = (list) => list.filter(([name]) => BOTMASTER_EVENTS.has(name));
  return { user, sender: botmasters(events[0]), other: botmasters(events[1]) };
}

/** `recipient.id` is the user's own id, different in each run: named the same. */
function sameUser(events, user) {
  return events.map(([name, payload]) => [name, JSON.parse(JSON.stringify(payload).replaceAll(user, 'USER'))]);
}

/**
 * The bots differ (an echo there; the fake Rasa here says "You picked …"):
 * each answer's text is checked on its own, and named the same here.
 */
function answered(events, expected) {
  return events.map(([name, payload]) => {
    if (name !== 'message' || typeof payload !== 'object') return [name, payload];
    assert.equal(payload.message.text, expected);
    return [name, { ...payload, message: { ...payload.message, text: 'ANSWER' } }];
  });
}

/** Our bot lines also carry their stored `id` and `timestamp`; Botmaster's have neither. */
function withoutOurIds(events) {
  return events.map(([name, payload]) => {
    if (name === 'message' && payload && typeof payload === 'object') {
      const { id, timestamp, ...rest } = payload;
      assert.equal(typeof id, 'number', `our ${name} carries its id`);
      assert.ok(Math.abs(timestamp - Date.now()) < 60_000, `our ${name} carries when it was stored`);
      return [name, rest];
    }
    return [name, payload];
  });
}

describe('the shapes of the published Botmaster', () => {
  let reference;
  let rasa;
  let ours;
  const recorded = {};
  before(async () => {
    reference = await startReference();
    rasa = await startFakeRasa();
    ours = await startServer({ args: ['--insecure-trust-client-ids', '--bot', 'rasa', '--rasa-url', rasa.url] });
    for (const [name, shape] of Object.entries(SHAPES)) {
      recorded[name] = { reference: await run(reference.url, shape, true), ours: await run(ours.url, shape, false) };
      const { reference: ref, ours: our } = recorded[name];
      console.log(`# ${name}\n#   Botmaster 3.2.0: sender ${JSON.stringify(sameUser(ref.sender, ref.user))}, other tab ${JSON.stringify(sameUser(ref.other, ref.user))}`
        + `\n#   chat-server:     sender ${JSON.stringify(sameUser(our.sender, our.user))}, other tab ${JSON.stringify(sameUser(our.other, our.user))}`);
    }
  });
  after(async () => {
    await ours?.stop();
    await rasa?.close();
    await reference?.stop();
  });

  for (const name of ['Botmaster 3: {message: {text}}', 'Botmaster 2: {text}']) {
    test(`${name}: the same events in the same shapes as Botmaster 3`, () => {
      const { reference: ref, ours: our } = recorded[name];
      assert.ok(ref.sender.length > 0, 'the reference answered');
      const theirs = (events) => answered(sameUser(events, ref.user), TEXT);
      const mine = (events) => answered(withoutOurIds(sameUser(events, our.user)), OUR_ANSWER);
      assert.deepEqual(mine(our.sender), theirs(ref.sender));
      assert.deepEqual(mine(our.other), theirs(ref.other));
    });
  }

  test("the tutorial's string shape: Botmaster 3 only errs; chat-server answers in strings, as the page reads them", () => {
    const { reference: ref, ours: our } = recorded["the tutorial's page: JSON.stringify({text})"];
    assert.equal(ref.sender.length, 0, 'Botmaster 3 does not answer a string');
    assert.match(reference.errors(), /Expected JSON object but got 'string'/);
    for (const tab of [our.sender, our.other]) {
      const answers = tab.filter(([event]) => event === 'message');
      assert.equal(answers.length, 1);
      assert.equal(typeof answers[0][1], 'string');
      assert.equal(JSON.parse(answers[0][1]).message.text, OUR_ANSWER);
    }
    // Both servers pass the user's own words to the other tab as sent.
    assert.deepEqual(our.other.filter(([event]) => event === 'own message'), ref.other.filter(([event]) => event === 'own message'));
  });
});
