/*
 * Kubernetes client failures translated into the project's typed errors (DESIGN.md habit 6).
 *
 * NotFound is evidence of absence and may lead to destroying a user's reservation, so it is given
 * only for a 404 whose body is a v1 Status with reason NotFound that names an object (and, when
 * the caller says which, that object). A bare 404 — a proxy's page, or the server's "could not
 * find the requested resource" for a type it does not serve — means the request went to the wrong
 * place, which is Fatal, never "the pod is gone".
 *
 * Messages carry the action, the HTTP code, the Status reason and message: never the response
 * headers the client's own ApiException message embeds.
 */
import { ApiException } from '@kubernetes/client-node';
import type { AppError } from '../errors.js';
import { Conflict, Fatal, Invalid, NotFound, Transient } from '../errors.js';

interface Status {
  kind?: string;
  reason?: string;
  message?: string;
  details?: { name?: string; retryAfterSeconds?: number };
}

/** The HTTP answer that failed, as far as it is known. */
export interface HttpFailure {
  code: number;
  body?: string;
  retryAfter?: string;
}

const networkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

function parseStatus(body: string | undefined): Status | undefined {
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body) as unknown;
    return typeof parsed === 'object' && parsed !== null && (parsed as Status).kind === 'Status'
      ? (parsed as Status)
      : undefined;
  } catch {
    return undefined;
  }
}

function retryAfterMs(failure: HttpFailure, status: Status | undefined): number | undefined {
  const seconds =
    failure.retryAfter !== undefined && /^\d+$/.test(failure.retryAfter.trim())
      ? Number(failure.retryAfter)
      : status?.details?.retryAfterSeconds;
  return seconds === undefined ? undefined : seconds * 1000;
}

/** Translates one failed HTTP answer; `name` is the object the request was about, if any. */
export function fromHttpFailure(failure: HttpFailure, action: string, cause: unknown, name?: string): AppError {
  const status = parseStatus(failure.body);
  const described = `${action}: HTTP ${failure.code}${status?.reason ? ` ${status.reason}` : ''}${status?.message ? `: ${status.message.slice(0, 300)}` : ''}`;
  const options = { cause };
  const { code } = failure;
  if (code === 404) {
    const named = status?.reason === 'NotFound' ? status.details?.name : undefined;
    if (named !== undefined && (name === undefined || named === name)) return new NotFound(described, options);
    return new Fatal(
      `${described} (a 404 that names no such object: is the API server URL right, and does it serve this resource?)`,
      options,
    );
  }
  if (code === 409) return new Conflict(described, options);
  if (code === 429 || code >= 500 || code === 408)
    return new Transient(described, retryAfterMs(failure, status), options);
  if (code === 410) return new Transient(`${described} (the resource version expired; list again)`, undefined, options);
  if (code === 400 || code === 422) return new Invalid(described, [], options);
  return new Fatal(described, options);
}

function errorCode(err: Error): string | undefined {
  const own = (err as { code?: unknown }).code;
  if (typeof own === 'string') return own;
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? errorCode(cause) : undefined;
}

/**
 * Translates anything a client call threw. Already-typed errors pass through; network failures
 * (resets, refused connections, hang-ups, premature stream ends) are Transient; the rest is Fatal.
 */
export function translateKubeError(err: unknown, action: string, name?: string): AppError {
  if (
    err instanceof NotFound ||
    err instanceof Conflict ||
    err instanceof Transient ||
    err instanceof Invalid ||
    err instanceof Fatal
  )
    return err;
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? err.body : undefined;
    const headers = (err.headers ?? {}) as Record<string, string | undefined>;
    return fromHttpFailure(
      {
        code: err.code,
        ...(body !== undefined && { body }),
        ...(headers['retry-after'] !== undefined && { retryAfter: headers['retry-after'] }),
      },
      action,
      err,
      name,
    );
  }
  if (!(err instanceof Error)) return new Fatal(`${action}: ${String(err)}`, { cause: err });
  const code = errorCode(err);
  if ((code !== undefined && networkCodes.has(code)) || /socket hang up|premature close/i.test(err.message)) {
    return new Transient(`${action}: connection failed (${code ?? err.message})`, undefined, { cause: err });
  }
  return new Fatal(`${action}: ${err.message}`, { cause: err });
}
