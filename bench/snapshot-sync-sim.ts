/*
 * The simulator for snapshot-sync's fleet benchmark, in a process of its own as EC2 is, on the
 * system clock. Driven over IPC by bench/snapshot-sync.ts: it seeds the history and the pending
 * snapshots itself (the same ids and tags the database rows carry), and reports its CPU, memory
 * and the EC2 calls it served, so the function's figures are the function's alone.
 */
import { systemClock } from '../shared/clock.js';
import { startSim } from '../sim/server.js';

export type SyncSimCommand =
  | { type: 'seed-history'; count: number; perDisk: number }
  | { type: 'seed-pending'; count: number; serial: number; startedSecondsAgo: number }
  | { type: 'stats' };
type SimRequest = SyncSimCommand & { id: number };

export interface SyncSimStats {
  cpuMs: number;
  rssMiB: number;
  /** EC2 calls served since the previous stats, by action. */
  ec2Calls: Record<string, number>;
}

export interface SeededPending {
  volumeId: string;
  snapshotId: string;
  userId: string;
}

/** The history's ids, as bench/snapshot-sync.ts's SQL makes them. */
export const historyIds = (g: number, perDisk: number) => ({
  snapshotId: `snap-f${g.toString(16).padStart(16, '0')}`,
  volumeId: `vol-f${g.toString(16).padStart(16, '0')}`,
  userId: `hist-${Math.floor((g - 1) / perDisk) + 1}@example.com`,
});

async function main(): Promise<void> {
  const sim = await startSim({});
  const answer = (message: object) => process.send!(message);
  process.on('message', (message: SimRequest) => {
    if (message.type === 'seed-history') {
      for (let g = 1; g <= message.count; g++) {
        const { snapshotId, volumeId, userId } = historyIds(g, message.perDisk);
        sim.aws.addSnapshot({
          snapshotId,
          volumeId,
          sizeGiB: 100,
          tags: { 'gpu-dev-user': userId, disk_name: 'home' },
        });
      }
      answer({ id: message.id });
    } else if (message.type === 'seed-pending') {
      const startTime = new Date(systemClock.now().getTime() - message.startedSecondsAgo * 1000);
      const pending: SeededPending[] = [];
      for (let i = 0; i < message.count; i++) {
        const userId = `pend-${message.serial}-${i}@example.com`;
        const { volumeId } = sim.aws.addVolume({ sizeGiB: 100, tags: { 'gpu-dev-user': userId, disk_name: 'home' } });
        const { snapshotId } = sim.aws.addSnapshot({ volumeId, state: 'pending', startTime });
        pending.push({ volumeId, snapshotId, userId });
      }
      answer({ id: message.id, pending });
    } else {
      const ec2Calls: Record<string, number> = {};
      for (const call of sim.aws.calls()) ec2Calls[call.action] = (ec2Calls[call.action] ?? 0) + 1;
      sim.aws.clear();
      const cpu = process.cpuUsage();
      answer({
        id: message.id,
        stats: {
          cpuMs: (cpu.user + cpu.system) / 1000,
          rssMiB: process.memoryUsage().rss / 2 ** 20,
          ec2Calls,
        } satisfies SyncSimStats,
      });
    }
  });
  process.once('disconnect', () => void sim.close().then(() => process.exit(0)));
  answer({ ready: { url: sim.url, token: sim.token } });
}

if (process.send) await main();
