/*
 * Fails any test that opens a TCP connection outside the loopback range, so a client left pointing
 * at a real cluster or at AWS is a clear test failure, with no packet sent.
 */
import net from 'node:net';

const loopbackHosts = new Set(['localhost', '::1', '0:0:0:0:0:0:0:1']);

function isLoopback(host: string | undefined): boolean {
  if (host === undefined || host === '') return true; // net defaults to localhost
  if (loopbackHosts.has(host)) return true;
  return host.startsWith('127.') || host.startsWith('::ffff:127.');
}

function hostOf(args: unknown[]): string | undefined {
  const first = args[0];
  if (Array.isArray(first)) return hostOf(first); // internal normalized-args form
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string; path?: string };
    if (options.path !== undefined) return 'localhost'; // unix socket
    return options.host;
  }
  if (typeof first === 'string' && Number.isNaN(Number(first))) return 'localhost'; // unix socket path
  return typeof args[1] === 'string' ? args[1] : undefined;
}

// Test files share a worker's modules (isolate: false) and each runs this setup file again: patch once.
const GUARDED = Symbol.for('devenv-lifecycle.network-guard');
const prototype = net.Socket.prototype as typeof net.Socket.prototype & { [GUARDED]?: true };
if (!prototype[GUARDED]) guardConnect();

function guardConnect(): void {
  prototype[GUARDED] = true;
  const originalConnect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    const host = hostOf(args);
    if (!isLoopback(host)) {
      throw new Error(`network guard: blocked connection to ${host} (tests may only reach loopback)`);
    }
    return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
}
