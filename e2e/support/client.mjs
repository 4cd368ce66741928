// Helpers around the official socket.io-client: connect, and wait for events
// in the order they arrive, with a deadline instead of sleeps.
import { io } from 'socket.io-client';

/**
 * Connects to `url` and resolves once connected.
 * @param {string} url
 * @param {object} options socket.io-client options (transports, upgrade...)
 */
export async function connect(url, options = {}) {
  const socket = io(url, { reconnection: false, forceNew: true, timeout: 5000, ...options });
  const inbox = new Inbox(socket);
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, inbox };
}

/** Records every event a socket receives, in order, and lets tests await them. */
export class Inbox {
  constructor(socket) {
    this.events = [];
    this.waiters = [];
    socket.onAny((name, ...args) => this.push({ name, args }));
    socket.on('disconnect', (reason) => this.push({ name: 'disconnect', args: [reason] }));
  }

  push(event) {
    this.events.push(event);
    this.waiters = this.waiters.filter((waiter) => !waiter.check());
  }

  /**
   * Resolves with the first `count` events named `name` once they have all arrived.
   * @returns {Promise<any[]>} their first arguments
   */
  take(name, count = 1, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.filter((e) => e.name === name);
        if (found.length < count) return false;
        clearTimeout(timer);
        resolve(found.slice(0, count).map((e) => e.args[0]));
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.check !== check);
        const seen = this.events.map((e) => e.name).join(', ') || 'nothing';
        reject(new Error(`expected ${count} '${name}' event(s) within ${timeoutMs} ms; got: ${seen}`));
      }, timeoutMs);
      if (!check()) this.waiters.push({ check });
    });
  }

  /** All events named `name` so far. */
  all(name) {
    return this.events.filter((e) => e.name === name).map((e) => e.args[0]);
  }
}

/** Emits `newmessage` and resolves with the server's ack. */
export function send(socket, payload, timeoutMs = 5000) {
  return socket.timeout(timeoutMs).emitWithAck('newmessage', payload);
}
