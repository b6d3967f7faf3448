/*
 * AWS SDK errors → our typed errors (shared/errors.ts). EC2 has no modelled exception classes, so
 * everything is matched on the error code the SDK puts in `name`, then on the HTTP status, then on
 * the transport failure. Only the two *.NotFound codes and Lambda's ResourceNotFoundException are
 * NotFound: that is the one answer the functions may treat as evidence that something is gone.
 */
import { AppError, Conflict, Fatal, Invalid, NotFound, Transient, coerceError } from '../errors.js';

const notFoundCodes = new Set(['InvalidSnapshot.NotFound', 'InvalidVolume.NotFound', 'ResourceNotFoundException']);
/**
 * EC2 refused the call for its rate, before doing anything: safe to send again after a pause.
 * SnapshotCreationPerVolumeRateExceeded is CreateSnapshot's per-volume limit (a 400, not a 429).
 */
const throttleCodes = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'SnapshotCreationPerVolumeRateExceeded',
]);
const conflictCodes = new Set(['VolumeInUse', 'IncorrectState', 'InvalidSnapshot.InUse', 'ResourceConflictException']);
const authCodes = new Set([
  'AuthFailure',
  'UnauthorizedOperation',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'ExpiredToken',
]);
/** Failures below HTTP: the request may not have arrived, or its answer did not. */
const transportNames = new Set(['TimeoutError', 'AbortError']);
const transportCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

interface SdkErrorShape extends Error {
  code?: unknown;
  $metadata?: { httpStatusCode?: number };
  /** Lambda's TooManyRequestsException carries the Retry-After header here. */
  retryAfterSeconds?: unknown;
}

function retryAfterMs(err: SdkErrorShape): number | undefined {
  const seconds = Number(err.retryAfterSeconds);
  return err.retryAfterSeconds !== undefined && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function isTransportFailure(err: SdkErrorShape): boolean {
  return transportNames.has(err.name) || (typeof err.code === 'string' && transportCodes.has(err.code));
}

/**
 * Classifies an error thrown by an AWS SDK call. The SDK error is kept as `cause`.
 * @param operation names the call in the message, e.g. `EC2 DeleteVolume vol-0abc`
 */
export function translateAwsError(thrown: unknown, operation: string): AppError {
  if (thrown instanceof AppError) return thrown; // already classified (e.g. a malformed answer)
  const err = coerceError(thrown) as SdkErrorShape;
  const code = err.name;
  const status = err.$metadata?.httpStatusCode;
  const message = `${operation}: ${code}: ${err.message}`;
  const options = { cause: thrown };
  if (notFoundCodes.has(code)) return new NotFound(message, options);
  if (throttleCodes.has(code) || status === 429) return new Transient(message, retryAfterMs(err), options);
  if (authCodes.has(code) || status === 401 || status === 403) return new Fatal(message, options);
  if (conflictCodes.has(code) || status === 409) return new Conflict(message, options);
  if (status !== undefined && status >= 500) return new Transient(message, undefined, options);
  if (status !== undefined && status >= 400) return new Invalid(message, [], options);
  if (isTransportFailure(err)) return new Transient(message, undefined, options);
  return new Fatal(message, options);
}

/** The AWS error code behind a translated error (`VolumeInUse`, `IncorrectState`…), if any. */
export function awsErrorCode(err: unknown): string | undefined {
  const cause = err instanceof AppError ? (err.cause as { name?: unknown } | undefined) : undefined;
  return typeof cause?.name === 'string' ? cause.name : undefined;
}

/** EC2 refused the call outright for its rate: nothing was done, so sending it again is safe. */
export function isThrottled(err: unknown): boolean {
  const code = awsErrorCode(err);
  return err instanceof Transient && code !== undefined && throttleCodes.has(code);
}

/** Sends one SDK call, translating whatever it throws. */
export async function callAws<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw translateAwsError(err, operation);
  }
}
