/*
 * Carrying the claimed teardowns step by step as far as the evidence allows in this run. Each
 * step moves its teardowns 50 together (200 at the detach wait: one DescribeVolumes), so reads are
 * shared and each group's outcomes are saved in one commit; no group starts once the run's pace
 * says stop, and progress is saved after every step, so a run may stop anywhere and the next one
 * continues. A pod this run deleted is read back once its grace period has passed, in this run
 * when the pace allows waiting for it (the other teardowns go first), so most teardowns finish in
 * the run that started them; otherwise it is saved as terminating and the next run reads it.
 * Pods whose grace periods end apart are read back in waves, so teardowns reach the detach wait at
 * different moments of a run: the volumes there are read once all of them have arrived (or the
 * waiting is over), together, so a run pays ⌈its volumes / 200⌉ DescribeVolumes calls.
 * A run goes on as long as something moves or a wave it can wait for comes: however many waves
 * its read backs come in, only its pace stops it, and it stops waiting for waves in time to carry
 * the teardowns held for them. What could loop, a teardown that starts over (leftovers found, a
 * delete that never took), is bounded per teardown.
 */
import { coerceError } from '../../shared/errors.js';
import type { GroupPace } from '../../shared/runtime/groups.js';
import type { Run } from '../../shared/runtime/run.js';
import { commitOutcomes } from './commit.js';
import type { Outcome } from './commit.js';
import { advance, nextStep } from './decide.js';
import type { TeardownPolicy } from './decide.js';
import { leftAloneDecisions } from './left-alone.js';
import type { CleanupDeps } from './load.js';
import { performStep } from './steps.js';
import type { Observed, StepDeps, StepState } from './steps.js';
import type { Step, Target } from './types.js';
import { readsVolume } from './volume-read.js';
import type { TeardownRow } from '../../shared/db/queries/cleanup.js';

const ORDER: Step[] = ['delete_resources', 'await_gone', 'await_detach', 'request_snapshot', 'release_disk', 'verify'];
const groupSize = (step: Step) => (step === 'await_detach' ? 200 : 50);
/**
 * A verification that finds leftovers (or a pod whose delete never took) starts the teardown over;
 * a run starts one teardown over at most this many times, then leaves it at its first step for the
 * next run, so leftovers that keep coming back cannot hold a run in a loop or hold the others up.
 */
const MAX_RESTARTS = 3;
/** After the grace period the kubelet still reports the end and the API server removes the pod. */
const READ_BACK_MARGIN_SECONDS = 2;

/** One leased teardown as this run carries it from step to step, and what happened to it. */
export interface Teardown {
  row: TeardownRow;
  target: Target;
  step: Step;
  enteredAt: Date;
  /** Objects this run already left alone: recorded once; a pod judged not ours is not read again. */
  leftAlone: Set<string>;
  justDeleted: boolean;
  /** When this run may read back the pod it deleted (its grace period has passed). */
  readAfter?: Date;
  /** How many times this run started it over (see MAX_RESTARTS). */
  restarts?: number;
  /** Saved as waiting, done, or failed: this run does nothing more with it. */
  settled: boolean;
  /** What it did, in the run's summary terms (one entry per occurrence). */
  tally: string[];
  failure?: string;
}

export interface PipelineContext {
  run: Run;
  deps: CleanupDeps;
  stepDeps: StepDeps;
  policy: TeardownPolicy;
  pace: GroupPace;
}

/**
 * Passes over the steps until nothing moves and no read back is due, then what is left over.
 * Bounded without a count of passes: a pass that returns true moved a teardown on (at most six
 * steps) or back (at most MAX_RESTARTS times each), a read back that returns true made at least
 * one waiting pod readable, and the pace stops both at its stop point.
 */
export async function advanceTeardowns(context: PipelineContext, teardowns: Teardown[]): Promise<void> {
  const readBackWhenGraceEnds = readBackInWaves(context, teardowns);
  let progressing = true;
  while (progressing) progressing = (await pass(context, teardowns)) || (await readBackWhenGraceEnds());
  // Held at the detach wait for read backs this run will not make: carried now, in one more pass,
  // before the pods below are saved, while the pace may still let groups start.
  await pass(
    context,
    teardowns.filter((t) => !t.settled && t.step === 'await_detach'),
  );
  // Pods whose grace could not be waited out here: saved as terminating (not read), for the next run.
  const unread = teardowns.filter((t) => !t.settled && t.readAfter);
  for (const t of unread) t.readAfter = undefined;
  await runStep(context, 'await_gone', unread);
}

/** One pass over the steps in order; true if any teardown moved to another step. */
async function pass(context: PipelineContext, teardowns: Teardown[]): Promise<boolean> {
  let moved = false;
  for (const step of ORDER) {
    const due = teardowns.filter((t) => carried(t) && t.step === step && !t.readAfter);
    moved = (await runStep(context, step, step === 'await_detach' ? notHeld(due, teardowns) : due)) || moved;
  }
  return moved;
}

/** Still carried in this run: not saved for good, and not started over too often already. */
const carried = (t: Teardown) => !t.settled && (t.restarts ?? 0) < MAX_RESTARTS;

/**
 * The teardowns at the detach wait that go on now. While pods still to be read back in this run
 * will bring volumes to the detach wait, the teardowns there whose volume is read wait for them, so
 * the run reads all its volumes together (a read now and another after the read back would pay a
 * DescribeVolumes call per wave). Waiting costs the volume nothing: it keeps detaching meanwhile.
 */
function notHeld(atDetach: Teardown[], teardowns: Teardown[]): Teardown[] {
  const moreToCome = teardowns.some((t) => !t.settled && t.readAfter && readsVolume(t.target));
  return moreToCome ? atDetach.filter((t) => !readsVolume(t.target)) : atDetach;
}

async function runStep(context: PipelineContext, step: Step, batch: Teardown[]): Promise<boolean> {
  let moved = false;
  for (let i = 0; i < batch.length && context.pace.mayStart(); i += groupSize(step)) {
    const group = batch.slice(i, i + groupSize(step));
    moved = (await context.pace.timed(() => advanceGroup(context, step, group))) || moved;
  }
  return moved;
}

/**
 * Each call waits for the next wave (the earliest grace end still ahead) when the pace allows;
 * true if some pods may be read now. The teardowns held at the detach wait for the waves go on only
 * after the last wave the run waits for, so a later wave is waited for only while as much time as
 * the waves have taken since the first is left after it before the stop point: the waves end as
 * far apart as their groups were deleted, and carrying a group on from its read back takes about as
 * long as deleting it did. Waiting to the stop point would leave every held teardown for the next run.
 */
function readBackInWaves({ run, pace }: PipelineContext, teardowns: Teardown[]): () => Promise<boolean> {
  let firstWave: number | undefined;
  return async () => {
    const waiting = teardowns.filter((t) => !t.settled && t.readAfter);
    if (waiting.length === 0) return false;
    const wave = Math.min(...waiting.map((t) => t.readAfter!.getTime()));
    firstWave ??= wave;
    if (!pace.mayStartAt(new Date(2 * wave - firstWave)) || !(await pace.waitUntil(new Date(wave)))) return false;
    const ready = waiting.filter((t) => t.readAfter!.getTime() <= run.now().getTime());
    for (const t of ready) {
      t.readAfter = undefined;
      t.justDeleted = false;
    }
    return ready.length > 0;
  };
}

/** Carry out one step for every teardown of the group, decide, and save; true if any moved on. */
async function advanceGroup(context: PipelineContext, step: Step, batch: Teardown[]): Promise<boolean> {
  const { run, stepDeps } = context;
  const states: StepState[] = batch.map((t) => ({
    target: t.target,
    secondsInStep: secondsSince(run, t.enteredAt),
    podLeftAlone: t.leftAlone.has(`pod/${t.target.podName}`),
    justDeleted: t.justDeleted,
  }));
  let observed: Observed[];
  try {
    observed = await performStep(step, states, stepDeps);
  } catch (err) {
    for (const t of batch) Object.assign(t, { settled: true, failure: coerceError(err).message });
    return false;
  }
  const outcomes = await Promise.all(
    batch.map((t, i) => outcomeOf(context, t, observed[i]!, states[i]!.secondsInStep)),
  );
  const committed = await commitOutcomes(run, outcomes);
  let moved = false;
  outcomes.forEach((outcome, i) => {
    const t = batch[i]!;
    for (const object of observed[i]!.leftAlone) t.leftAlone.add(`${object.kind}/${object.name}`);
    const id = t.row.reservation_id;
    if (!committed.saved.has(id))
      return void Object.assign(t, { settled: true, failure: committed.failures.get(id) ?? 'not saved' });
    record(run, t, outcome);
    if (committed.released.has(id)) t.tally.push('disks_released');
    t.justDeleted =
      step === 'delete_resources' && outcome.transition.kind === 'advance' && observed[i]!.podsTerminating === true;
    if (t.justDeleted)
      t.readAfter = new Date(run.now().getTime() + (stepDeps.podDeleteGraceSeconds + READ_BACK_MARGIN_SECONDS) * 1000);
    if (outcome.transition.kind === 'retry' || outcome.to === 'done') t.settled = true;
    if (outcome.transition.kind === 'restart') t.restarts = (t.restarts ?? 0) + 1;
    if (outcome.to !== step) {
      t.step = outcome.to;
      t.enteredAt = run.now();
      moved = true;
    }
  });
  return moved;
}

/**
 * The decision for one teardown, and the objects it left alone. A grace-0 delete (before the
 * commit: no transaction waits on the network) names the uid read in this same step, so it can
 * only hit the pod that was judged the reservation's and stuck.
 */
async function outcomeOf(
  { run, deps, policy }: PipelineContext,
  t: Teardown,
  observed: Observed,
  secondsInStep: number,
): Promise<Outcome> {
  const transition = advance(observed.observation, policy, secondsInStep);
  const now = run.now();
  let reason = transition.reason;
  if (transition.kind === 'retry' && transition.forceDeletePod && t.target.podName && observed.podUid) {
    const forced = await deps.resources
      .forceDeletePod(t.target.namespace, t.target.podName, observed.podUid)
      .catch((err: unknown) => `failed: ${coerceError(err).message}`);
    reason = `${reason} (${forced})`;
  }
  const fresh = observed.leftAlone.filter((object) => !t.leftAlone.has(`${object.kind}/${object.name}`));
  for (const object of fresh)
    deps.metrics.foreignObjects.inc({ function: 'cleanup-pod', kind: object.kind, owner: object.owner });
  return {
    row: t.row,
    target: t.target,
    step: t.step,
    transition,
    reason,
    to: nextStep(t.step, transition),
    nextAttemptAt: transition.kind === 'retry' ? new Date(now.getTime() + transition.delaySeconds * 1000) : now,
    decisions: leftAloneDecisions(t.target, fresh),
  };
}

/**
 * What the step did, for the run's summary and for `actions_total` under the step's own kind (the
 * alerts read verify/leftovers and <step>/escalated): a verification that found leftovers is
 * counted apart, so an alert can tell it from success.
 */
function record(run: Run, t: Teardown, { step, transition }: Outcome): void {
  const metric = (outcome: string) => run.metrics.actions.inc({ function: run.fn, kind: step, outcome });
  if (transition.kind === 'retry') {
    t.tally.push('retrying', ...(transition.escalated ? ['escalated'] : []));
    return metric(transition.escalated ? 'escalated' : 'retry');
  }
  if (step === 'delete_resources') t.tally.push('resources_deleted');
  if (step === 'await_gone') t.tally.push('pods_gone');
  if (transition.kind === 'advance' && transition.to === 'done') t.tally.push('cleaned');
  metric(transition.kind === 'restart' ? 'leftovers' : 'done');
}

const secondsSince = (run: Run, at: Date) => (run.now().getTime() - at.getTime()) / 1000;
