/*
 * The simulated Kubernetes API server: routing, bearer-token auth, exec upgrades and the scenario
 * API, over one store and one clock. Mounted by the combined server (sim/server.ts).
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Clock } from '../../shared/clock.js';
import type { KubeContext } from './context.js';
import { ExecServer, refuseUpgrade } from './exec.js';
import { Pods } from './pods.js';
import { parseTarget, route } from './routes.js';
import { createScenario } from './scenario.js';
import type { KubeScenario } from './scenario.js';
import { ObjectStore } from './store.js';
import { KubeApiError, sendStatus, statusBody, unknownPath } from './status.js';

export type { KubeScenario };

export interface KubeSim {
  scenario: KubeScenario;
  handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
    options: { dropWatchAfterMs?: number },
  ): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

/** How many changes watches can replay; older resourceVersions get 410 Gone. */
const historyLimit = 1000;

function unauthorized(): KubeApiError {
  return new KubeApiError(statusBody(401, 'Unauthorized', 'Unauthorized'));
}

export function createKubeSim(options: { clock: Clock; token: string }): KubeSim {
  const store = new ObjectStore(options.clock, historyLimit);
  const pods = new Pods(store, options.clock);
  const ctx: KubeContext = { store, pods, exec: new ExecServer(pods, options.clock), clock: options.clock };
  const scenario = createScenario(ctx);
  scenario.addNamespace('default');
  scenario.addNode({ name: 'sim-node-1' });
  // kubectl (client-go) sends no credentials over plain http (kubernetes/kubectl#744), so a request
  // without any is let in, as the API server's old insecure port did; a wrong token is still a 401.
  const authorized = (req: http.IncomingMessage) =>
    req.headers.authorization === undefined || req.headers.authorization === `Bearer ${options.token}`;

  return {
    scenario,
    handle(req, res, body, { dropWatchAfterMs }) {
      if (!authorized(req)) return sendStatus(res, unauthorized().status);
      const query = new URL(req.url ?? '/', 'http://sim').searchParams;
      route(
        ctx,
        { req, res, query, body, ...(dropWatchAfterMs !== undefined && { dropWatchAfterMs }) },
        req.headers.host ?? '127.0.0.1',
      );
    },
    upgrade(req, socket, head) {
      const url = new URL(req.url ?? '/', 'http://sim');
      const target = parseTarget(url.pathname);
      try {
        if (!authorized(req)) throw unauthorized();
        if (target?.type.plural !== 'pods' || target.subresource !== 'exec') throw unknownPath();
        const pod = pods.get({ namespace: target.namespace!, name: target.name! });
        const nodeLost = pod.spec.nodeName !== undefined && pods.lostNodes.has(pod.spec.nodeName);
        ctx.exec.upgrade(req, socket, head, pod, url.searchParams, nodeLost);
      } catch (err) {
        if (!(err instanceof KubeApiError)) throw err;
        refuseUpgrade(socket, err.status);
      }
    },
    close() {
      pods.close();
      ctx.exec.close();
    },
  };
}
