/**
 * Imported by `pg-driver.ts` just before pg, for its side effect: a `navigator` defined while pg
 * loads, when Node has none (Node 20; Node 21+ has its own). pg asks at load whether it runs in a
 * Cloudflare Worker (`lib/stream.js`): without a `navigator` it constructs a fetch `Response`,
 * which makes Node load its whole fetch implementation (undici), ~30 ms of CPU at the start of
 * every command, for an answer that is always no here. ES modules evaluate their imports in
 * order, so this module runs before pg and `pg-driver.ts`'s own code after it.
 */
const defined = !('navigator' in globalThis);
if (defined) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node}` },
    configurable: true,
  });
}

/** Removes the `navigator` this module defined (none if Node had its own). */
export function removeLoadNavigator(): void {
  if (defined) delete (globalThis as { navigator?: unknown }).navigator;
}
