// Starts the real `chat-server` binary on a port chosen by the OS and stops it
// by PID. The binary and the frontend bundle come from the environment, set by
// `cargo xtask test`: CHAT_SERVER_BIN and DIST_DIR.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/**
 * Runs chat-server and resolves once it listens.
 * @param {{port?: number, args?: string[], dataDir?: string}} options port 0
 *   (default) lets the OS choose; dataDir defaults to a fresh temporary folder.
 */
export async function startServer({ port = 0, args = [], dataDir = tempDataDir() } = {}) {
  if (!BIN || !DIST) {
    throw new Error('CHAT_SERVER_BIN and DIST_DIR must be set; run the tests with `cargo xtask test`');
  }
  const child = spawn(BIN, ['--host', '127.0.0.1', '--port', String(port), '--dist', DIST, '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', NO_COLOR: '1' },
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
    /** Whatever the server logged so far. */
    log: () => log,
    /** Whether the process is still running. */
    alive: () => child.exitCode === null && child.signalCode === null,
    /** Stops the server (SIGTERM: graceful) and waits for it to exit. */
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
