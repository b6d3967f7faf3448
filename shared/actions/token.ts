/*
 * Action tokens: HS256-signed JWTs (jose) bound to one reservation, the deadline they were issued
 * for, one action and an expiry, with a unique `jti` recorded on use so a token acts once. The
 * deadline binding is what lets the extend function refuse a stale link after the deadline moved.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
import { z } from 'zod';
import { AppError } from '../errors.js';

export const ACTION_KINDS = ['extend', 'snooze', 'end-now'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

const ISSUER = 'devenv-lifecycle';
const AUDIENCE = 'devenv-lifecycle:extend';

export interface ActionClaims {
  reservationId: string;
  action: ActionKind;
  /** The deadline the token was issued for; the action applies only while it still holds. */
  deadline: Date;
  /** extend only: how far the link extends. */
  minutes?: number;
  jti: string;
  expiresAt: Date;
}

/** A token that must not act: `expired` is answered 410, `invalid` (tampered, malformed) 401. */
export class TokenRejected extends AppError {
  constructor(readonly reason: 'invalid' | 'expired') {
    super(reason === 'expired' ? 'the action link has expired' : 'the action link is not valid');
  }
}

const payloadSchema = z.object({
  sub: z.string().min(1).max(200),
  act: z.enum(ACTION_KINDS),
  dl: z.iso.datetime(),
  min: z.int().positive().optional(),
  jti: z.string().min(1).max(100),
  exp: z.int(),
});

const keyBytes = (signingKey: string) => new TextEncoder().encode(signingKey);

export interface TokenRequest {
  reservationId: string;
  action: ActionKind;
  deadline: Date;
  minutes?: number;
  expiresAt: Date;
  now: Date;
}

export async function signActionToken(signingKey: string, request: TokenRequest): Promise<string> {
  const claims = {
    act: request.action,
    dl: request.deadline.toISOString(),
    ...(request.minutes === undefined ? {} : { min: request.minutes }),
  };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(request.reservationId)
    .setJti(randomUUID())
    .setIssuedAt(Math.floor(request.now.getTime() / 1000))
    .setExpirationTime(Math.floor(request.expiresAt.getTime() / 1000))
    .sign(keyBytes(signingKey));
}

/** The claims of a genuine, unexpired token at `now`; throws TokenRejected otherwise. */
export async function verifyActionToken(signingKey: string, token: string, now: Date): Promise<ActionClaims> {
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, keyBytes(signingKey), {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: AUDIENCE,
      currentDate: now,
      requiredClaims: ['exp', 'jti', 'sub'],
    }));
  } catch (err) {
    throw new TokenRejected(err instanceof errors.JWTExpired ? 'expired' : 'invalid');
  }
  const parsed = payloadSchema.safeParse(payload);
  if (!parsed.success || (parsed.data.act === 'extend') !== (parsed.data.min !== undefined))
    throw new TokenRejected('invalid');
  const { sub, act, dl, min, jti, exp } = parsed.data;
  return {
    reservationId: sub,
    action: act,
    deadline: new Date(dl),
    minutes: min,
    jti,
    expiresAt: new Date(exp * 1000),
  };
}
