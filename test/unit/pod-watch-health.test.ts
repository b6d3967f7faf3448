/* pod-watch's health server: a scrape that fails answers 500 and the server keeps answering. */
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer } from '../../pod-watch/health.js';
import type { HealthServer } from '../../pod-watch/health.js';
import { createPodWatchMetrics } from '../../pod-watch/metrics.js';

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.close();
});

describe('pod-watch health server', () => {
  it('answers 500 to a failing metrics scrape, and still answers /healthz', async () => {
    const metrics = createPodWatchMetrics();
    metrics.registry.metrics = () => Promise.reject(new Error('collector broke'));
    server = await startHealthServer(0, '127.0.0.1', { alive: () => true, ready: () => true, depth: () => 0 }, metrics);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(500);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
