// Stopping a child process the tests started, by PID: a signal, then
// SIGKILL if it has not exited within 10 s.
import { once } from 'node:events';

/** Sends `signal` to `child` (unless it has exited) and resolves once it has. */
export async function stopProcess(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
