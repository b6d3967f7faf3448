/*
 * ending-watchdog's log lines never carry a lab owner's id in clear (origin bug B-10 printed 24 bits
 * of it, and SPEC 5.7): every line that names the owner shows `****` and the last 6 characters.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import { watchdogOptionsSchema } from '../../functions/ending-watchdog/options.js';
import { makeDeps } from '../../shared/deps.js';
import { createLogger } from '../../shared/log.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertLab } from '../support/fixtures.js';

const h = useFunctionHarness();

describe('ending-watchdog logs', () => {
  it('mask the owner in dry-run and processing lines alike', async () => {
    const lines: string[] = [];
    const log = createLogger({
      level: 'info',
      hashSalt: 's',
      destination: new Writable({
        write: (chunk: Buffer, _e, done) => {
          lines.push(chunk.toString('utf8'));
          done();
        },
      }),
    });
    const deps = makeDeps(h.deps.config, { clock: h.clock, log, pool: h.deps.pool });
    const ownerId = randomUUID();
    const endingSince = new Date(h.clock.now().getTime() - 3_600_000);
    const lab = await insertLab(h.deps.pool, {
      owner_id: ownerId,
      status: 'ending',
      status_changed_at: endingSince,
      ending_since: endingSince,
    });
    for (const dryRun of [true, false]) {
      const result = await endingWatchdog.handle(
        { kind: 'manual', callId: randomUUID(), options: watchdogOptionsSchema.parse({ dryRun }) },
        deps,
      );
      expect(result.outcome).toBe('succeeded');
    }
    const naming = lines.filter((line) => line.includes(lab.id));
    expect(naming.some((line) => line.includes('DRY-RUN'))).toBe(true);
    expect(naming.some((line) => line.includes('processing lab'))).toBe(true);
    expect(lines.join('')).not.toContain(ownerId);
    expect(lines.join('')).not.toContain(ownerId.slice(0, 8));
    const owners = naming.filter((line) => /"owner(Id)?"/.test(line));
    expect(owners.length).toBeGreaterThanOrEqual(2);
    for (const line of owners) expect(line).toContain(`****${ownerId.slice(-6)}`);
  });
});
