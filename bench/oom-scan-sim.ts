/*
 * The simulator for the oom-scan benchmark, in a process of its own as a cluster's API server is,
 * on the system clock. Driven over IPC by bench/oom-scan.ts: it seeds the fleet's pods itself (over
 * HTTP that would take longer than the measurement), and reports its CPU, memory and the
 * Kubernetes calls it served, so the function's figures are the function's alone.
 */
import { startSim } from '../sim/server.js';

export type SimCommand = { type: 'seed'; namespace: string; count: number; killedEvery: number } | { type: 'stats' };
type SimRequest = SimCommand & { id: number };

export interface SimStats {
  cpuMs: number;
  rssMiB: number;
  kubeCalls: number;
  /** One pod's size in a list answer. */
  podBytes: number;
}

export const podName = (i: number) => `gpu-dev-oom-${String(i).padStart(7, '0')}`;
export const reservationId = (i: number) => `oom-${String(i).padStart(7, '0')}`;

/** What `kubectl apply` leaves on a pod: its manifest, with the environment a dev pod gets. */
const lastApplied = (i: number) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    spec: {
      containers: [
        {
          name: 'gpu-dev',
          image: 'registry.example.com/devenv/gpu-dev:2026.11.3',
          env: Array.from({ length: 30 }, (_, k) => ({ name: `DEVENV_SETTING_${k}`, value: `value-${i}-${k}` })),
          resources: { limits: { 'nvidia.com/gpu': '1', memory: '64Gi' } },
        },
      ],
    },
  });

async function main(): Promise<void> {
  const sim = await startSim({});
  let kubeCalls = 0;
  // The simulator's own log keeps the latest 10,000 requests; a running count outlives that.
  const countCalls = () => {
    const requests = sim.requests.all();
    kubeCalls += requests.filter((request) => /^\/(api|apis)\//.test(request.path)).length;
    sim.requests.clear();
  };
  const counter = setInterval(countCalls, 200);
  const answer = (message: object) => process.send!(message);
  const podBytes = () => {
    const pod = sim.kube.list('pods')[0];
    return pod ? Buffer.byteLength(JSON.stringify(pod)) : 0;
  };
  process.on('message', (message: SimRequest) => {
    if (message.type === 'seed') {
      sim.kube.addNamespace(message.namespace);
      for (let i = 0; i < message.count; i++) {
        const pod = { name: podName(i), namespace: message.namespace };
        sim.kube.addPod({
          ...pod,
          labels: { 'reservation-id': reservationId(i) },
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied(i) },
        });
        if (i % message.killedEvery === 0) sim.kube.oomKill(pod, 'gpu-dev');
      }
      answer({ id: message.id });
    } else {
      countCalls();
      const cpu = process.cpuUsage();
      answer({
        id: message.id,
        stats: {
          cpuMs: (cpu.user + cpu.system) / 1000,
          rssMiB: process.memoryUsage().rss / 2 ** 20,
          kubeCalls,
          podBytes: podBytes(),
        } satisfies SimStats,
      });
    }
  });
  process.once('disconnect', () => {
    clearInterval(counter);
    void sim.close().then(() => process.exit(0));
  });
  answer({ ready: { url: sim.url, token: sim.token } });
}

if (process.send) await main();
