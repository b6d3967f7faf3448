/*
 * The OctoLab watchdog's contract: labId, olderThanMinutes, maxLabs, action, dryRun. Zero or
 * negative numbers, an unknown action or a malformed lab id are refused (origin bug B-12: a
 * negative age selected every ENDING lab and killed teardowns in flight).
 */
import { z } from 'zod';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';

export const watchdogOptionsSchema = baseOptionsSchema.extend({
  labId: z.uuid({ error: 'must be a lab id (UUID)' }).optional(),
  // Bounded so the cutoff stays a date PostgreSQL accepts: 1e10 minutes used to answer 500.
  olderThanMinutes: z
    .number({ error: 'must be a number of minutes' })
    .positive('must be greater than 0')
    .max(525_600, 'must be at most 525600 (a year)')
    .optional(),
  maxLabs: z
    .int({ error: 'must be a whole number' })
    .positive('must be greater than 0')
    .max(1000, 'must be at most 1000')
    .optional(),
  action: z.enum(['force', 'fail'], { error: 'must be force or fail' }).optional(),
});

export type WatchdogOptions = z.output<typeof watchdogOptionsSchema>;
