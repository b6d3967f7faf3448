/*
 * Policy preview of a paged function (oom-scan): the scan's pages read up to each side's page budget
 * and decided, then the notice steps, with the current and with changed settings. A larger page
 * budget lists the kill on a page the current one does not reach, and nothing is written: every
 * table row-for-row the same, no write request to the cluster (no exec, no delete), and the durable
 * cursor where it was.
 */
import { describe, expect, it } from 'vitest';
import { oomScan } from '../../functions/oom-scan/handler.js';
import { formatPreview } from '../../local/cli-preview.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';
import { everyRow, previewOf, withPolicy } from '../support/preview.js';

const h = useFunctionHarness({ OOM_SCAN_PAGE_SIZE: '10', OOM_SCAN_PAGES_PER_RUN: '1' });
const namespace = 'preview-oom';
const podOf = (i: number) => ({ namespace, name: `gpu-dev-prev${String(i).padStart(4, '0')}` });
const idOf = (i: number) => `prev-${String(i).padStart(4, '0')}`;

const clusterWrites = () => h.sim.requests.all().filter((request) => request.method !== 'GET');
const everything = () => everyRow(h.deps.pool);
const pagesPerRun = (pages: number) => withPolicy(h.deps.config, { oomScanPagesPerRun: pages });
const preview = previewOf(oomScan, () => h.deps);

describe('policy preview of oom-scan (paged)', () => {
  it('lists the kill a larger page budget would record now, and writes nothing', async () => {
    h.sim.kube.addNamespace(namespace);
    // 15 pods: page 1 holds 0-9, page 2 holds 10-14; a kill on each page.
    for (let i = 0; i < 15; i++) {
      await insertReservation(h.deps.pool, { reservation_id: idOf(i), pod_name: podOf(i).name, namespace });
      h.sim.kube.addPod({ ...podOf(i), labels: { 'reservation-id': idOf(i) } });
    }
    h.sim.kube.oomKill(podOf(3), 'gpu-dev');
    h.sim.kube.oomKill(podOf(12), 'gpu-dev');
    const before = await everything();
    h.sim.requests.clear();

    const result = await preview(pagesPerRun(2));

    expect(result.added.map((a) => [a.step, a.kind, a.entity.id])).toEqual([['pages', 'record-kill', idOf(12)]]);
    expect(result.dropped).toEqual([]);
    expect(result.unchanged).toBe(1); // the kill on page 1, recorded either way
    expect(result.notes).toEqual(
      expect.arrayContaining([
        'current settings, pages: 1 page(s) read (page budget 1)',
        'changed settings, pages: 2 page(s) read (page budget 2)',
      ]),
    );
    const text = formatPreview(result, { OOM_SCAN_PAGES_PER_RUN: '2' });
    expect(text).toContain('would record-kill 1\n');
    expect(text).toContain(`reservationId=${idOf(12)}`);

    expect(await everything()).toEqual(before);
    expect(clusterWrites()).toEqual([]);
    expect(h.sim.kube.readFile(podOf(3), '/home/dev/OOM_DETECTED.txt')).toBeUndefined();

    // The scheduled run with the current settings does what the preview says it does: page 1's kill only.
    expect((await h.schedule(oomScan)).summary).toMatchObject({ oom_detected: 1, stopped_at_page_budget: 1 });
  });
});
