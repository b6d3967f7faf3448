/**
 * Poll until `check` holds, for results that arrive asynchronously (an event through the gateway, a
 * run started elsewhere). The timeout only bounds a failing test; it is not a performance claim.
 */
export async function eventually(check: () => Promise<boolean>, what = 'condition', timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${what} not reached within ${timeoutMs} ms`);
}
