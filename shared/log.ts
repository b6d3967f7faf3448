/*
 * One pino logger, JSON lines. People's identifiers never reach a log line in clear (SPEC 5.7):
 * user ids and emails are replaced by a salted hash (stable, so one user's lines still correlate),
 * owner ids by `****` plus their last 6 characters (the OctoLab convention). The rule lives in the
 * redaction config, not at each call.
 */
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger } from 'pino';

const hashedKeys = ['userId', 'user_id', 'email', 'userEmail', 'user_email', 'githubUser', 'github_user'];
const maskedKeys = ['ownerId', 'owner_id', 'owner'];

// pino's redact paths match a key at the top level or one object down.
const paths = (keys: string[]) => keys.flatMap((key) => [key, `*.${key}`]);

export interface LoggerOptions {
  level: string;
  hashSalt: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const hashed = new Set(hashedKeys);
  return pino(
    {
      level: options.level,
      base: { service: 'devenv-lifecycle' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
      redact: {
        paths: [...paths(hashedKeys), ...paths(maskedKeys), 'password', '*.password', 'token', '*.token'],
        censor: (value, path) => {
          const key = path[path.length - 1] ?? '';
          if (key === 'password' || key === 'token') return '[redacted]';
          return hashed.has(key) ? hashIdentity(value, options.hashSalt) : maskOwner(value);
        },
      },
    },
    options.destination,
  );
}

export interface RunBindings {
  fn: string;
  runId: string;
  trigger: string;
}

/** The per-invocation logger: every line carries the function, the run id and the trigger. */
export function runLogger(root: Logger, bindings: RunBindings): Logger {
  return root.child(bindings);
}

/** `****` + the last 6 characters, as OctoLab showed owners; short values are fully masked. */
export function maskOwner(value: unknown): string {
  const text = String(value ?? '');
  return text.length > 6 ? `****${text.slice(-6)}` : '****';
}

export function hashIdentity(value: unknown, salt: string): string {
  if (value === null || value === undefined) return String(value);
  // node:crypto is loaded on the first identity hashed, not at start-up, where it would cost a
  // sixth of what starting Node costs (a bundled function's cold start, build/bundle.ts).
  const digest = process
    .getBuiltinModule('node:crypto')
    .createHash('sha256')
    .update(`${salt}:${String(value)}`)
    .digest('hex');
  return `h:${digest.slice(0, 12)}`;
}
