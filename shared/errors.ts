/*
 * Typed errors that say whether to retry (DESIGN.md habit 6). Adapters (Kubernetes, AWS, pg)
 * translate their vendor errors into these at the boundary; the runtime maps them to HTTP
 * statuses in one place.
 *
 * - NotFound:  the thing definitely does not exist (a real 404 / *.NotFound). The only error that
 *              may count as evidence of absence.
 * - Conflict:  someone else changed the state first (409, a compare-and-set that matched nothing).
 * - Transient: retry later (5xx, 429, throttling, timeouts, resets, terminated connections).
 * - Invalid:   the input is wrong; retrying will not help (400).
 * - Fatal:     a defect or misconfiguration; stop and report.
 */
export class AppError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NotFound extends AppError {}
export class Conflict extends AppError {}
export class Fatal extends AppError {}

export class Transient extends AppError {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One problem with one input field; `field` is a dotted path or a variable name. */
export interface InvalidIssue {
  field: string;
  message: string;
}

export class Invalid extends AppError {
  constructor(
    message: string,
    readonly issues: InvalidIssue[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Normalise anything thrown into an Error once, so callers can rely on `.message` and `.name`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
}

export function isTransient(err: unknown): err is Transient {
  return err instanceof Transient;
}
