/*
 * `why <id>`, pure: the id checked, the recorded facts (shared/db/queries/timeline.ts) turned into
 * one timeline, oldest first, each step with its time, function, decision, reason and evidence,
 * and that timeline as plain text. The ids of people are masked here, as the logs mask them
 * (`****` + the last 6 characters), in the evidence and in any text that quotes them, so the JSON
 * can go to a platform's own UI as it is.
 */
import { Invalid } from '../shared/errors.js';
import type { DecisionFact, RunFact, TimelineSources } from '../shared/db/queries/timeline.js';
import { maskOwner } from '../shared/log.js';

export const MAX_ID_CHARACTERS = 255;

export interface WhyStep {
  at: string;
  function: string;
  decision: string;
  reason: string;
  evidence: Record<string, unknown>;
}

export interface WhyAnswer {
  id: string;
  kind: 'reservation' | 'lab' | 'decisions only';
  summary: Record<string, unknown>;
  steps: WhyStep[];
  /** Sources that had more rows than were read: the oldest of them are not shown. */
  truncated: string[];
}

const PERSON_KEYS = new Set([
  'user_id',
  'userId',
  'owner_id',
  'ownerId',
  'owner',
  'email',
  'userEmail',
  'user_email',
  'github_user',
  'githubUser',
  'gpu-dev-user',
]);

/** The id as given, or Invalid naming what is wrong with it (never echoing a control character). */
export function checkWhyId(raw: string | undefined): string {
  const fail = (message: string) => new Invalid(message, [{ field: 'id', message }]);
  if (raw === undefined || raw.trim() === '')
    throw fail('why needs a reservation id or a lab id (devenv-lifecycle help why)');
  const characters = [...raw];
  if (characters.length > MAX_ID_CHARACTERS)
    throw fail(
      `the id is ${characters.length} characters long; reservation and lab ids have at most ${MAX_ID_CHARACTERS}`,
    );
  const control = characters.findIndex((c) => /\p{Cc}/u.test(c));
  if (control >= 0) {
    const code = characters[control]!.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw fail(
      `the id has a control character (U+${code}) at position ${control + 1}; ids have none (was a line break copied with it?)`,
    );
  }
  const lone = characters.findIndex((c) => /\p{Cs}/u.test(c));
  if (lone >= 0) throw fail(`the id is not valid Unicode (a lone surrogate at position ${lone + 1})`);
  return raw;
}

export function buildWhy(sources: TimelineSources): WhyAnswer {
  const people = peopleIn(sources);
  const steps = [...reservationSteps(sources), ...labSteps(sources), ...recordSteps(sources), ...decisionSteps(sources)]
    .filter((step): step is Step => step.at !== null)
    .sort((a, b) => a.at.getTime() - b.at.getTime() || a.order - b.order)
    .map(({ at, fn, decision, reason, evidence }) =>
      mask({ at: at.toISOString(), function: fn, decision, reason, evidence: clean(evidence) }, people),
    );
  const kind = sources.reservation ? 'reservation' : sources.lab ? 'lab' : 'decisions only';
  return {
    id: sources.id,
    kind,
    summary: mask(clean(summaryOf(sources)), people),
    steps,
    truncated: sources.truncated,
  };
}

interface Step {
  at: Date;
  order: number;
  fn: string;
  decision: string;
  reason: string;
  evidence: Record<string, unknown>;
}

type MaybeStep = Omit<Step, 'at'> & { at: Date | null };

const step = (
  at: Date | null,
  fn: string,
  decision: string,
  reason: string,
  evidence: Record<string, unknown> = {},
  order = 0,
): MaybeStep => ({ at, order, fn, decision, reason, evidence });

function summaryOf({ reservation: r, lab }: TimelineSources): Record<string, unknown> {
  if (r) {
    return {
      status: r.status,
      statusSince: r.status_changed_at,
      user: r.user_id,
      expiresAt: r.expires_at,
      pod: r.pod_name,
      namespace: r.namespace,
      volume: r.ebs_volume_id,
      disk: r.disk_name,
      failureReason: r.failure_reason,
    };
  }
  if (lab)
    return {
      status: lab.status,
      owner: lab.owner_id,
      namespace: lab.namespace,
      expiresAt: lab.expires_at,
      endingSince: lab.ending_since,
      finishedAt: lab.finished_at,
    };
  return {};
}

function reservationSteps({ reservation: r }: TimelineSources): MaybeStep[] {
  if (!r) return [];
  return [
    step(r.created_at, 'platform', 'reservation created', `requested by ${r.user_id}`, {}, -3),
    step(
      r.launched_at,
      'platform',
      'environment launched',
      `pod ${r.namespace ?? '(default namespace)'}/${r.pod_name ?? '(none)'}`,
      {},
      -2,
    ),
    step(r.expires_at, 'platform', 'deadline', 'the reservation was due to end at this time', {}, -1),
    step(
      r.status_changed_at,
      'platform',
      `status became ${r.status}`,
      r.failure_reason ?? 'the current status, as the reservation row has it',
      {},
      1,
    ),
  ];
}

function labSteps({ lab }: TimelineSources): MaybeStep[] {
  if (!lab) return [];
  return [
    step(lab.created_at, 'platform', 'lab created', `owned by ${lab.owner_id}`, { namespace: lab.namespace }, -3),
    step(
      lab.ending_since,
      'platform',
      'lab entered ENDING',
      'its teardown was requested; ending-watchdog finishes labs left there',
      {},
      -1,
    ),
    step(
      lab.watchdog_attempted_at,
      'ending-watchdog',
      'teardown not verified yet',
      lab.watchdog_last_error ?? 'the last attempt could not verify the teardown',
      { unverifiedAttempts: lab.watchdog_unknown_attempts },
    ),
    step(lab.finished_at, 'platform', `lab ${lab.status}`, 'the lab ended', {}, 1),
  ];
}

/** Steps from the functions' own tables: warnings, pod checks, teardown, snapshots, disks, OOM kills. */
function recordSteps(s: TimelineSources): MaybeStep[] {
  const warnings = s.warnings.map((w) => {
    const levelAt = new Date(w.expires_at.getTime() - w.level_minutes * 60_000);
    const decision =
      w.state === 'sent'
        ? `warned: ${w.level_minutes} minutes before the deadline`
        : w.state === 'failed'
          ? `warning of ${w.level_minutes} minutes not delivered`
          : `warning of ${w.level_minutes} minutes being sent`;
    const lateSeconds = w.sent_at
      ? Math.max(0, Math.round((w.sent_at.getTime() - levelAt.getTime()) / 1000))
      : undefined;
    return step(
      w.sent_at ?? w.first_attempt_at,
      'warn',
      decision,
      `the deadline ${w.expires_at.toISOString()} was ${w.minutes_left ?? w.level_minutes} minutes away`,
      { attempts: w.attempts, lateSeconds, webhook: w.webhook_state, error: w.last_error },
    );
  });
  const o = s.observation;
  const t = s.teardown;
  return [
    ...warnings,
    step(
      o?.absent_since ?? null,
      'expire',
      'pod found absent',
      'the pod was read by name and the API answered 404 in a namespace that exists',
    ),
    step(
      o?.checked_at ?? null,
      'expire',
      'pod last checked',
      o?.last_error ?? 'the scheduled health check read the pod',
      {},
      2,
    ),
    step(
      t?.started_at ?? null,
      'cleanup-pod',
      'teardown started',
      'the reservation ended, so its pod, services and disk are released',
      { volume: t?.volume_id },
    ),
    step(
      t && !t.completed_at ? t.updated_at : null,
      'cleanup-pod',
      `teardown waiting at ${t?.step}`,
      t?.last_error ?? 'the next run continues from this step',
      { attempts: t?.attempts },
      2,
    ),
    step(
      t?.completed_at ?? null,
      'cleanup-pod',
      'teardown finished',
      'pod and services gone, disk released and verified',
      {},
      2,
    ),
    ...s.snapshots.flatMap((snap) => {
      const evidence = {
        snapshot: snap.snapshot_id,
        volume: snap.volume_id,
        kind: snap.kind,
        state: snap.state,
        error: snap.last_error,
      };
      return [
        step(
          snap.requested_at,
          'snapshot-sync',
          'snapshot requested',
          `the ${snap.kind} snapshot of volume ${snap.volume_id}`,
          evidence,
        ),
        step(
          snap.completed_at,
          'snapshot-sync',
          'snapshot completed',
          'EC2 reported the snapshot completed',
          evidence,
          1,
        ),
        step(
          snap.volume_outcome_at,
          'snapshot-sync',
          `volume ${snap.volume_outcome}`,
          volumeReason(snap.volume_outcome),
          evidence,
          2,
        ),
        step(
          snap.deleted_at,
          'snapshot-sync',
          'snapshot deleted',
          'past its retention or its disk was deleted',
          evidence,
          3,
        ),
      ];
    }),
    ...s.disks.flatMap((d) => [
      step(
        d.marked_deleted_at,
        'platform',
        `disk ${d.disk_name} marked deleted`,
        'the user deleted the disk; its snapshots are kept until the delete date',
        { disk: d.disk_id },
      ),
    ]),
    ...s.oomKills.map((k) =>
      step(
        k.detected_at,
        'oom-scan',
        `container ${k.container} killed out of memory`,
        `restart ${k.restart_count} of pod ${k.pod_name}, seen by ${k.detected_by === 'event' ? 'a pod event' : 'the scan'}`,
        { finishedAt: k.finished_at, notice: k.notice_state },
      ),
    ),
  ];
}

function volumeReason(outcome: string | null): string {
  if (outcome === 'deleted') return 'its snapshot completed, so the volume was deleted';
  if (outcome === 'gone') return 'the volume was already gone';
  return 'the volume is kept (attached again, used by a newer reservation, or no disk row to check)';
}

function decisionSteps(s: TimelineSources): MaybeStep[] {
  const runs = new Map(s.runs.map((run) => [run.id, run]));
  // Read newest first; in time order, decisions of one instant keep the order they were made in.
  return [...s.decisions]
    .sort((a, b) => Number(a.id) - Number(b.id))
    .map((d) =>
      step(d.decided_at, d.function, decisionWords(d), d.reason, {
        ...(d.entity_id !== s.id && { about: `${d.entity_kind} ${d.entity_id}` }),
        ...d.inputs,
        error: d.error,
        run: runWords(d.run_id === null ? undefined : runs.get(d.run_id)),
      }),
    );
}

function decisionWords(d: DecisionFact): string {
  const outcome =
    {
      applied: '',
      dry_run: ' (dry run: nothing changed)',
      conflict: ' (someone else changed it first)',
      skipped: ' (not acted on)',
      failed: ' (failed)',
    }[d.outcome] ?? ` (${d.outcome})`;
  return `${d.action}${outcome}`;
}

const runWords = (run: RunFact | undefined) =>
  run && `${run.trigger}${run.source ? ` (${run.source})` : ''} run ${run.id}, ${run.outcome}`;

/** Drop empty fields; dates as ISO text. */
function clean(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(record)
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]),
  );
}

function peopleIn(s: TimelineSources): string[] {
  const ids = [
    s.reservation?.user_id,
    s.lab?.owner_id,
    ...s.snapshots.map((x) => x.user_id),
    ...s.disks.map((x) => x.user_id),
  ];
  // Shorter ids would match inside unrelated text; they are still masked wherever a person key holds them.
  return [...new Set(ids.filter((id): id is string => typeof id === 'string' && id.length >= 4))].sort(
    (a, b) => b.length - a.length,
  );
}

/** Every person key masked at any depth, and every known person's id masked inside text. */
function mask<T>(value: T, people: string[], key = ''): T {
  if (PERSON_KEYS.has(key) || key === 'user' || key === 'owner')
    return (value === null || value === undefined ? value : maskOwner(value)) as T;
  if (typeof value === 'string')
    return people.reduce((text, person) => text.split(person).join(maskOwner(person)), value as string) as T;
  if (Array.isArray(value)) return value.map((item) => mask(item, people)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v, people, k)])) as T;
  return value;
}

/** The timeline in plain words: a heading, then one block per step, oldest first. */
export function formatWhy(answer: WhyAnswer): string {
  const summary = Object.entries(answer.summary)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
  const lines = [
    `${answer.kind === 'decisions only' ? 'id' : answer.kind} ${answer.id}: ${summary || 'no row; only decisions recorded about it'}`,
    '',
  ];
  for (const s of answer.steps) {
    lines.push(`${s.at.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z')}  ${s.function}: ${s.decision}`);
    lines.push(`    why: ${s.reason}`);
    const evidence = Object.entries(s.evidence)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', ');
    if (evidence) lines.push(`    evidence: ${evidence}`);
  }
  if (answer.truncated.length > 0)
    lines.push('', `(only the newest ${answer.truncated.join(', ')} are shown; the rest are in the database)`);
  return `${lines.join('\n')}\n`;
}
