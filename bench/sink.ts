/* The event sink the benchmarks deliver to: accepts every CloudEvent, as the Knative broker would. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startSink(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(202).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** What a function process is told to deliver to (K_SINK). */
export function sinkUrl(server: http.Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}
