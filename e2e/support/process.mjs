// Child processes the tests start: waiting for one to answer over HTTP,
// and stopping it by PID (a signal, then SIGKILL if it has not exited
// within 10 s).
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

/**
 * Resolves once `url` answers `GET` with a success; fails when `child`
 * (`what`, whose output so far `log()` returns) exits first or 10 s pass.
 */
export async function answering(url, child, what, log) {
  for (const started = Date.now(); ; ) {
    if (child.exitCode !== null) throw new Error(`${what} exited:\n${log()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() - started > 10_000) throw new Error(`${what} did not answer:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
