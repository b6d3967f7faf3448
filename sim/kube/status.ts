/*
 * v1 Status bodies and JSON answers, shaped like the real API server's: the client turns any
 * non-2xx answer into an ApiException carrying this text, and our adapter reads `reason` and
 * `details` from it, so the shapes here are what the error translation is tested against.
 */
import type http from 'node:http';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  retryAfterSeconds?: number;
  causes?: { reason?: string; message?: string; field?: string }[];
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  /** `continue` on a 410 for an expired continue token: where the rest of the list resumes. */
  metadata: { continue?: string };
  status: 'Failure';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

const reasons: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export function statusBody(code: number, message: string, reason?: string, details?: StatusDetails): StatusBody {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: reason ?? reasons[code] ?? 'Unknown',
    ...(details && { details }),
    code,
  };
}

/** Thrown by the store and handlers; the router answers it with its Status. */
export class KubeApiError extends Error {
  constructor(readonly status: StatusBody) {
    super(status.message);
  }
}

export function notFound(plural: string, name: string, group = ''): KubeApiError {
  const qualified = group ? `${plural}.${group}` : plural;
  return new KubeApiError(
    statusBody(404, `${qualified} "${name}" not found`, 'NotFound', { name, ...(group && { group }), kind: plural }),
  );
}

/** What the real server answers for a path it does not serve: a 404 with no object named. */
export function unknownPath(): KubeApiError {
  return new KubeApiError(statusBody(404, 'the server could not find the requested resource', 'NotFound', {}));
}

export function badRequest(message: string): KubeApiError {
  return new KubeApiError(statusBody(400, message, 'BadRequest'));
}

export function sendJson(
  res: http.ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(code, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendStatus(res: http.ServerResponse, status: StatusBody, headers: Record<string, string> = {}): void {
  sendJson(res, status.code, status, headers);
}

/** RFC 3339 at second precision, as the API server writes metadata timestamps. */
export function timestamp(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
