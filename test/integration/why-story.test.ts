/*
 * `why` tells the whole story of a reservation, from its first warning to its snapshot, after the
 * real functions ran in process against the simulated cluster and AWS: warn twice, expire,
 * cleanup-pod (delete, then confirm gone, request the snapshot, release the disk, verify) and
 * snapshot-sync (snapshot created, then completed and the volume deleted). The same timeline is
 * checked as text from the built CLI, as JSON from the CLI and from pod-watch's GET /why/<id>, with
 * the user's id masked everywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { expire } from '../../functions/expire/handler.js';
import { snapshotSync } from '../../functions/snapshot-sync/handler.js';
import { warn } from '../../functions/warn/handler.js';
import { appendDecisions } from '../../shared/db/queries/decisions.js';
import { loadTimeline } from '../../shared/db/queries/timeline.js';
import { buildWhy } from '../../local/why.js';
import type { WhyAnswer } from '../../local/why.js';
import { loadPodWatchConfig } from '../../pod-watch/config.js';
import { startPodWatch } from '../../pod-watch/run.js';
import type { PodWatch } from '../../pod-watch/run.js';
import { simProductEnv } from '../../sim/product-env.js';
import { runCli, useBuiltCli } from '../support/cli.js';
import type { NodeRun } from '../support/cli.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertDisk, insertLab, insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness({ WARNING_MINUTES: '30,15,5', GRACE_PERIOD_SECONDS: '120' });
const BUILT_CLI = useBuiltCli('why-test');
const USER = 'dev.person@example.com';
const id = 'a1b2c3d4-0000-4000-8000-00000000face';
const podName = 'gpu-dev-a1b2c3d4';
const volumeId = 'vol-0a1b2c3d400000001';
let podWatch: PodWatch;

beforeAll(async () => {
  podWatch = await startPodWatch(
    loadPodWatchConfig({
      DATABASE_URL: dbUrl(),
      ...simProductEnv(h.sim),
      POD_WATCH_PORT: '0',
      OPENFAAS_GATEWAY_URL: 'http://127.0.0.1:1',
      LOG_LEVEL: 'silent',
    }),
    { clock: h.clock, host: '127.0.0.1' },
  );
}, 60_000);
afterAll(async () => {
  await podWatch?.stop(100);
});

const dbUrl = () => (h.deps.pool as unknown as { options: { connectionString: string } }).options.connectionString;

function cli(...args: string[]): Promise<NodeRun> {
  return runCli(args, {
    entry: BUILT_CLI,
    env: { DATABASE_URL: dbUrl(), SECRETS_DIR: '/nonexistent' },
    cwd: '/',
    timeoutMs: 30_000,
  });
}

async function liveStory(): Promise<void> {
  await insertReservation(h.deps.pool, {
    reservation_id: id,
    user_id: USER,
    pod_name: podName,
    namespace: 'gpu-dev',
    disk_name: 'home',
    ebs_volume_id: volumeId,
    expires_at: new Date('2026-06-01T12:29:30Z'),
    launched_at: new Date('2026-06-01T10:00:00Z'),
    status_changed_at: new Date('2026-06-01T10:00:00Z'),
  });
  await insertDisk(h.deps.pool, {
    user_id: USER,
    disk_name: 'home',
    in_use: true,
    reservation_id: id,
    ebs_volume_id: volumeId,
  });
  h.sim.kube.addPod({
    name: podName,
    namespace: 'gpu-dev',
    labels: { 'reservation-id': id, reservation: podName },
    volumes: [{ name: 'home', awsElasticBlockStore: { volumeID: volumeId } }],
  });
  h.sim.aws.addVolume({
    volumeId,
    sizeGiB: 100,
    attachedTo: podName,
    tags: { 'gpu-dev-user': USER, disk_name: 'home' },
  });

  expect((await h.schedule(warn)).summary).toMatchObject({ warned: 1 }); // 12:00, the 30-minute level (due 11:59:30)
  h.clock.advanceMinutes(15);
  expect((await h.schedule(warn)).summary).toMatchObject({ warned: 1 }); // 12:15, the 15-minute level
  h.clock.advanceMinutes(17);
  expect((await h.schedule(expire)).summary).toMatchObject({ expired: 1 }); // 12:32, past the deadline and the grace
  h.clock.advanceSeconds(5); // reservation.expired reaches cleanup-pod
  expect((await h.schedule(cleanupPod)).outcome).toBe('succeeded');
  h.clock.advanceSeconds(31);
  h.sim.kube.tick();
  expect((await h.schedule(cleanupPod)).summary).toMatchObject({ cleaned: 1, disks_released: 1 });
  h.clock.advanceSeconds(5);
  expect((await h.schedule(snapshotSync)).outcome).toBe('succeeded');
  h.clock.advanceSeconds(61);
  expect((await h.schedule(snapshotSync)).summary).toMatchObject({ snapshots_completed: 1, volumes_deleted: 1 });
}

describe('why <reservation-id>', () => {
  let answer: WhyAnswer;

  beforeAll(async () => {
    await liveStory();
    answer = buildWhy(await loadTimeline(h.deps.pool, id));
  }, 60_000);

  it('lists every step from the first warning to the snapshot and the volume, oldest first, each with its function', () => {
    const story = answer.steps.map((s) => `${s.function}: ${s.decision}`);
    const order = [
      'warn: warned: 30 minutes before the deadline',
      'warn: warned: 15 minutes before the deadline',
      'platform: deadline',
      'expire: expire',
      'cleanup-pod: teardown started',
      'cleanup-pod: delete_resources->await_gone',
      'cleanup-pod: release_disk->verify',
      'cleanup-pod: teardown finished',
      'snapshot-sync: snapshot requested',
      'snapshot-sync: snapshot completed',
      'snapshot-sync: volume deleted',
    ];
    const positions = order.map((line) => story.findIndex((s) => s.startsWith(line)));
    expect(
      positions.filter((p) => p < 0),
      JSON.stringify(story, null, 1),
    ).toEqual([]);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(answer.steps.map((s) => s.at)).toEqual(answer.steps.map((s) => s.at).sort());
    for (const s of answer.steps) expect(s.reason, s.decision).not.toBe('');
    expect(answer.steps.find((s) => s.decision.startsWith('warned: 30'))).toMatchObject({
      at: '2026-06-01T12:00:00.000Z',
      evidence: { lateSeconds: 30 },
    });
    const expired = answer.steps.find((s) => s.function === 'expire')!;
    expect(expired.evidence.run).toMatch(/^schedule \(cron-connector\) run [0-9a-f-]{36}, succeeded$/);
    expect(answer.summary).toMatchObject({ status: 'expired', pod: podName, volume: volumeId });
  });

  it('masks the user id as the logs mask owners, in the summary, the evidence and the text', () => {
    const json = JSON.stringify(answer);
    expect(json).not.toContain(USER);
    expect(json).not.toContain('dev.person');
    expect(answer.summary.user).toBe('****le.com');
    expect(answer.steps.find((s) => s.decision === 'reservation created')?.reason).toBe('requested by ****le.com');
  });

  it('prints the same story from the CLI, as text and as JSON', async () => {
    const text = await cli('why', id);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`reservation ${id}: status expired`);
    expect(text.stdout).toMatch(
      /2026-06-01 12:00:00Z {2}warn: warned: 30 minutes before the deadline\n {4}why: the deadline 2026-06-01T12:29:30.000Z was 29 minutes away/,
    );
    expect(text.stdout).toContain('snapshot-sync: volume deleted');
    expect(text.stdout).not.toContain(USER);
    const json = await cli('why', '--json', id);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(JSON.stringify(answer)));
  }, 60_000);

  it('serves it as JSON from pod-watch, read-only', async () => {
    const before = (await h.deps.pool.query('select count(*)::int n from decision_log')).rows[0].n as number;
    const response = await fetch(`${podWatch.health.url}/why/${encodeURIComponent(id)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await response.text();
    expect(body).not.toContain(USER);
    expect(JSON.parse(body)).toEqual(JSON.parse(JSON.stringify(answer)));
    expect((await h.deps.pool.query('select count(*)::int n from decision_log')).rows[0].n).toBe(before);
  });
});

describe('why with an odd or unknown id', () => {
  it.each([
    ['a newline', 'abc\ndef', /control character \(U\+000A\) at position 4/],
    ['300 characters', 'x'.repeat(300), /300 characters long; reservation and lab ids have at most 255/],
    ['nothing', '', /needs a reservation id or a lab id/],
  ])(
    'refuses %s in one line, exit 2 from the CLI and 400 from pod-watch',
    async (_what, odd, message) => {
      const result = await cli('why', odd);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
      const response = await fetch(`${podWatch.health.url}/why/${encodeURIComponent(odd)}`);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(await response.json()).toMatchObject({ status: 400, detail: expect.stringMatching(message) });
    },
    60_000,
  );

  it('says an unknown id is unknown (exit 1, one line; 404), unicode and quotes included', async () => {
    const odd = 'résa-🚀-"quoted"';
    const result = await cli('why', odd);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `error: nothing is known about ${JSON.stringify(odd)}: no reservation or lab has this id and no decision names it`,
    );
    const response = await fetch(`${podWatch.health.url}/why/${encodeURIComponent(odd)}`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ status: 404, title: 'Nothing known' });
  }, 60_000);

  it('finds a reservation whose id is unicode and 255 characters long', async () => {
    const long = `ü${'r'.repeat(253)}🚀`;
    await insertReservation(h.deps.pool, { reservation_id: long, user_id: USER, status: 'cancelled' });
    const response = await fetch(`${podWatch.health.url}/why/${encodeURIComponent(long)}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      id: long,
      kind: 'reservation',
      summary: { status: 'cancelled', user: '****le.com' },
    });
    expect((await fetch(`${podWatch.health.url}/why/%E0%A4%A`)).status).toBe(400); // broken percent-encoding
  });
});

describe('why <lab-id>', () => {
  it("tells a lab's ENDING and the watchdog's decisions, the owner masked", async () => {
    const owner = '0b5e55ed-0000-4000-8000-0000000a11ce';
    const lab = await insertLab(h.deps.pool, {
      owner_id: owner,
      status: 'ending',
      ending_since: new Date('2026-06-01T11:00:00Z'),
    });
    await appendDecisions(
      h.deps.pool,
      [
        {
          fn: 'ending-watchdog',
          entityKind: 'lab',
          entityId: lab.id,
          action: 'force:unknown',
          reason: `listing failed for lab of ${owner}`,
          inputs: { ownerId: owner },
          outcome: 'skipped',
        },
      ],
      new Date('2026-06-01T11:40:00Z'),
    );
    const response = await fetch(`${podWatch.health.url}/why/${lab.id}`);
    expect(response.status).toBe(200);
    const answer = (await response.json()) as WhyAnswer;
    expect(answer).toMatchObject({ kind: 'lab', summary: { status: 'ending', owner: '****0a11ce' } });
    expect(answer.steps.map((s) => `${s.function}: ${s.decision}`)).toEqual([
      'platform: lab created',
      'platform: lab entered ENDING',
      'ending-watchdog: force:unknown (not acted on)',
    ]);
    expect(answer.steps[2]).toMatchObject({
      reason: 'listing failed for lab of ****0a11ce',
      evidence: { ownerId: '****0a11ce' },
    });
    expect(JSON.stringify(answer)).not.toContain(owner);
  });
});
