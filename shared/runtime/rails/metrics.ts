/*
 * The rails' metrics, registered once per registry on first use, so the kernel's metrics object
 * stays as it is and every function on the kernel gets them.
 */
import { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../metrics.js';

const HALTS = 'devenv_lifecycle_rail_halts_total';
const SKEW = 'devenv_lifecycle_clock_skew_seconds';

/** rail: breaker (blast radius) | clock (skew past the limit). */
export function railHalts(metrics: Metrics): Counter<'function' | 'rail'> {
  const existing = metrics.registry.getSingleMetric(HALTS);
  if (existing) return existing as Counter<'function' | 'rail'>;
  return new Counter({ name: HALTS, help: 'Runs halted by a safety rail (nothing destructive done), by function and rail', labelNames: ['function', 'rail'], registers: [metrics.registry] });
}

/** The function's clock minus the database's, as last measured at the start of a run. */
export function clockSkew(metrics: Metrics): Gauge<'function'> {
  const existing = metrics.registry.getSingleMetric(SKEW);
  if (existing) return existing as Gauge<'function'>;
  return new Gauge({ name: SKEW, help: "The function's clock minus the database's now(), at the start of its last run", labelNames: ['function'], registers: [metrics.registry] });
}
