/* All six functions behind the local gateway on a loopback port, for the hostile-input and load runs. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { allFunctions } from '../../functions/index.js';
import { createGateway } from '../../local/gateway.js';
import type { Deps } from '../../shared/deps.js';
import type { Logger } from '../../shared/log.js';
import { createEndpoint } from '../../shared/runtime/endpoint.js';

export interface ServedGateway {
  url: string;
  close(): Promise<void>;
}

export async function serveGateway(deps: Deps, log: Logger, bodyLimitBytes = 262_144): Promise<ServedGateway> {
  const runtime = { metrics: deps.metrics, logger: log, bodyLimitBytes };
  const gateway = createGateway({
    functions: allFunctions.map((fn) => ({ name: fn.name, endpoint: createEndpoint(fn, () => deps, runtime) })),
    bodyLimitBytes, log, metrics: deps.metrics,
  });
  const server = http.createServer(gateway.listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gateway.drain();
    },
  };
}
