// Polls a value until it satisfies a condition: for DOM state that has no
// event to await. Fails with the last value seen.

/**
 * @param {() => Promise<any>} read
 * @param {(value: any) => boolean} ok
 */
export async function expect(read, ok, { timeout = 10_000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeout} ms; last value: ${JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
