/* All six functions behind the local gateway on a loopback port, for the hostile-input and load runs. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { allFunctions } from '../../functions/index.js';
import { createGateway } from '../../local/gateway.js';
import type { Deps } from '../../shared/deps.js';
import type { Logger } from '../../shared/log.js';
import { createEndpoint } from '../../shared/runtime/endpoint.js';
import { eventually } from '../support/eventually.js';

export interface ServedGateway {
  url: string;
  /** Resolves when no request is in flight: a load generator that stops leaves answers still being worked on. */
  idle(): Promise<void>;
  /** Every answer of 300 or more, as "status path", so a failing test says which function answered what. */
  failures: string[];
  close(): Promise<void>;
}

export async function serveGateway(deps: Deps, log: Logger, bodyLimitBytes = 262_144): Promise<ServedGateway> {
  const runtime = { metrics: deps.metrics, logger: log, bodyLimitBytes };
  const gateway = createGateway({
    functions: allFunctions.map((fn) => ({ name: fn.name, endpoint: createEndpoint(fn, () => deps, runtime) })),
    bodyLimitBytes,
    log,
    metrics: deps.metrics,
  });
  let inFlight = 0;
  const failures: string[] = [];
  const server = http.createServer((req, res) => {
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      if (res.statusCode >= 300) failures.push(`${res.statusCode} ${req.url ?? ''}`);
    });
    gateway.listener(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failures,
    idle: async () => {
      await eventually(async () => inFlight === 0, 'the gateway idle', 120_000);
      await gateway.drain();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gateway.drain();
    },
  };
}
