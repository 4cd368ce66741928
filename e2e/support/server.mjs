// Starts the real `chat-server` binary on a port chosen by the OS and stops it
// by PID. The binary and the frontend bundle come from the environment, set by
// `cargo xtask test`: CHAT_SERVER_BIN and DIST_DIR.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stopProcess } from './process.mjs';

const BIN = process.env.CHAT_SERVER_BIN;

/** Data folders made here; removed when the test process ends. */
const made = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary data folder, removed when the test process ends. */
export function tempDataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'chat-data-'));
  made.push(dir);
  return dir;
}
const DIST = process.env.DIST_DIR;

/** Rate limits out of the way, for tests that send as fast as they can. */
export const UNLIMITED = ['--message-burst', '1000000000', '--messages-per-second', '1000000000'];

/**
 * A node of a cluster on `postgres` (see support/postgres.mjs), without
 * rate limits: `id` names it (and its claims on answers); nodes that share
 * `dataDir` share one token secret. `args` add to its flags.
 */
export function startNode(postgres, id, { dataDir, port = 0, args = [], env } = {}) {
  return startServer({
    port,
    dataDir,
    args: [...UNLIMITED, '--store', 'postgres', '--database-url', postgres.url, '--node-id', id, ...args],
    env,
  });
}

/** The unprivileged user and group (nobody, nogroup) servers run as with `unprivileged`. */
const NOBODY = 65534;

/**
 * The command that runs chat-server as an unprivileged user, for tests where
 * file permissions must bite: as root (whom they do not stop) the binary is
 * copied where that user can run it, the data folder is handed to it, and
 * `setpriv` drops to it; otherwise the server already runs unprivileged.
 */
function unprivileged(dataDir) {
  if (process.getuid?.() !== 0) return [BIN];
  const bin = join(tempDataDir(), 'chat-server');
  copyFileSync(BIN, bin);
  chmodSync(join(bin, '..'), 0o755);
  chmodSync(bin, 0o755);
  chownSync(dataDir, NOBODY, NOBODY);
  for (const file of readdirSync(dataDir)) chownSync(join(dataDir, file), NOBODY, NOBODY);
  return ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', bin];
}

/**
 * Runs chat-server and resolves once it listens.
 * @param {{port?: number, args?: string[], dataDir?: string, asNobody?: boolean, fdLimit?: number}} options
 *   port 0 (default) lets the OS choose; dataDir defaults to a fresh temporary
 *   folder; asNobody runs the server as an unprivileged user; fdLimit sets its
 *   file-descriptor limit (soft and hard, like `ulimit -n`); dist is the folder
 *   of pages to serve (the built bundle by default).
 */
export async function startServer({ port = 0, args = [], dataDir = tempDataDir(), asNobody = false, fdLimit, dist = DIST, env = {} } = {}) {
  if (!BIN || !DIST) {
    throw new Error('CHAT_SERVER_BIN and DIST_DIR must be set; run the tests with `cargo xtask test`');
  }
  let [program, ...prefix] = asNobody ? unprivileged(dataDir) : [BIN];
  if (fdLimit) {
    // prlimit execs the server, so its PID is the server's.
    prefix = [`--nofile=${fdLimit}:${fdLimit}`, '--', program, ...prefix];
    program = 'prlimit';
  }
  // `env` adds to (or, with `undefined`, takes away from) the server's environment.
  const environment = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', NO_COLOR: '1', ...env };
  for (const [name, value] of Object.entries(environment)) if (value === undefined) delete environment[name];
  const child = spawn(program, [...prefix, '--host', '127.0.0.1', '--port', String(port), '--dist', dist, '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: environment,
  });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });

  const url = await new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk) => {
      out += chunk;
      const match = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        child.stdout.off('data', onData);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`chat-server exited with ${code} before listening:\n${log}`)));
    setTimeout(() => reject(new Error(`chat-server did not start within 20 s:\n${log}`)), 20_000).unref();
  });
  child.stdout.resume();

  return {
    url,
    dataDir,
    port: Number(new URL(url).port),
    pid: child.pid,
    /** Whatever the server logged so far. */
    log: () => log,
    /** How the process ended: `{code, signal}`, both null while it runs. */
    status: () => ({ code: child.exitCode, signal: child.signalCode }),
    /** Whether the process is still running. */
    alive: () => child.exitCode === null && child.signalCode === null,
    /** Stops the server (SIGTERM: graceful) and waits for it to exit. */
    async stop(signal = 'SIGTERM') {
      await stopProcess(child, signal);
    },
  };
}
