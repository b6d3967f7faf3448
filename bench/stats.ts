/** Small helpers for benchmarks: timing, medians, and the machine description. */
import os from 'node:os';

export async function timeMs(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const memoryGiB = (os.totalmem() / 2 ** 30).toFixed(0);
  return `${os.cpus().length} cores (${cpu}), ${memoryGiB} GiB memory, ${os.platform()} ${os.release()}, Node ${process.version}`;
}

export const fmt = (ms: number) => `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
