/* The operator path: `devenv-lifecycle extend <id> --by 2h` acts through the same decide and policy as a link. */
import { beforeEach, describe, expect, it } from 'vitest';
import { parseDuration, parseExtendArgs, runExtend } from '../../local/cli-extend.js';
import { Invalid } from '../../shared/errors.js';
import { deadlineOf as deadlineIn, minutesFrom } from '../support/extend.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness({ EXTEND_MAX_MINUTES: '240' });
const inMinutes = minutesFrom(h.clock);

function fieldOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (err) {
    if (err instanceof Invalid) return err.issues[0]?.field;
    throw err;
  }
  return undefined;
}

const deadlineOf = (id: string) => deadlineIn(h.deps.pool, id);

beforeEach(async () => {
  await h.deps.pool.query('delete from reservations');
});

describe('devenv-lifecycle extend', () => {
  it('parses durations and refuses odd ones naming the flag', () => {
    expect([parseDuration('2h'), parseDuration('90m'), parseDuration('1h30m')]).toEqual([120, 90, 90]);
    for (const bad of ['', '0m', '2d', '-1h', '169h', '99999999h', '2h;rm'])
      expect(
        fieldOf(() => parseDuration(bad)),
        bad,
      ).toBe('--by');
    expect(fieldOf(() => parseExtendArgs(['r-1']))).toBe('--by');
    expect(fieldOf(() => parseExtendArgs(['--by', '2h']))).toBe('reservation-id');
    expect(fieldOf(() => parseExtendArgs(['r\u0001x', '--by', '2h']))).toBe('reservation-id');
    expect(fieldOf(() => parseExtendArgs(['r-1', '--by', '2h', '--shorten']))).toBe('arguments');
  });

  it('extends from the current deadline under the policy, and refuses past the per-extension maximum', async () => {
    await insertReservation(h.deps.pool, { reservation_id: 'op000001', expires_at: inMinutes(30) });
    const answer = await runExtend(h.deps, parseExtendArgs(['op000001', '--by', '2h']));
    expect(answer).toMatchObject({ kind: 'done', expiresAt: inMinutes(150) });
    expect(await deadlineOf('op000001')).toEqual(inMinutes(150));
    expect(await runExtend(h.deps, parseExtendArgs(['op000001', '--by', '5h']))).toMatchObject({
      kind: 'refused',
      rule: 'max-per-extension',
    });
    expect(await deadlineOf('op000001')).toEqual(inMinutes(150));
    const { rows } = await h.deps.pool.query(
      `select outcome, inputs->>'by' as by from decision_log where entity_id = 'op000001' order by id`,
    );
    expect(rows).toEqual([
      { outcome: 'applied', by: 'operator' },
      { outcome: 'skipped', by: 'operator' },
    ]);
  });

  it('refuses while the same GPU type has waiting reservations, unless told to bypass capacity', async () => {
    await insertReservation(h.deps.pool, { reservation_id: 'op000002', expires_at: inMinutes(30) });
    await insertReservation(h.deps.pool, {
      reservation_id: 'op000003-queued',
      status: 'queued',
      launched_at: null,
      expires_at: null,
    });
    await h.deps.pool.query(`update reservations set gpu_type = 'a100'`);
    expect(await runExtend(h.deps, parseExtendArgs(['op000002', '--by', '1h']))).toMatchObject({
      kind: 'refused',
      rule: 'capacity',
    });
    expect(await deadlineOf('op000002')).toEqual(inMinutes(30));
    expect(await runExtend(h.deps, parseExtendArgs(['op000002', '--by', '1h', '--bypass-capacity']))).toMatchObject({
      kind: 'done',
    });
    expect(await deadlineOf('op000002')).toEqual(inMinutes(90));
  });

  it('an unknown reservation is refused as not found', async () => {
    expect(await runExtend(h.deps, parseExtendArgs(['no-such-one', '--by', '1h']))).toMatchObject({
      kind: 'refused',
      rule: 'not-found',
      status: 404,
    });
  });
});
