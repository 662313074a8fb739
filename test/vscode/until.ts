// Polling for what a user would see, for tests inside VS Code (suite/support.ts
// re-exports it) and for tests that drive it from outside (test/webview).

/** Polls `fn` until it returns something truthy; fails naming `what` after `ms`. */
export async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
}
