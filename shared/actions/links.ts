/*
 * The action links a warning carries (the contract warn's channels render). One signed,
 * single-use, expiring URL per action, bound to the deadline the warning is about. A GET on a
 * link only shows a confirmation page (link previewers and mail scanners fetch URLs); the page's
 * POST acts. No links when ACTION_BASE_URL is not configured.
 *
 *   const links = await actionLinks(config.actions, { reservationId, deadline, now }, pool);
 *
 * Given the database, each link also gets a short URL (/a/<12-character random id>, stored with
 * its token, migration 0028) for the places a person reads: the file in the pod and chat. Both
 * URLs act alike. Signing is asynchronous (WebCrypto), hence the Promise.
 */
import { randomBytes } from 'node:crypto';
import type { ActionSettings } from '../config.js';
import { insertShortLinks } from '../db/queries/action-links.js';
import type { Db } from '../db/pool.js';
import { signActionToken } from './token.js';
import type { ActionKind } from './token.js';

export interface ActionLink {
  action: ActionKind;
  url: string;
  /** /a/<short id>: present when the links were issued with the database at hand. */
  shortUrl?: string;
  label: string;
  expiresAt: Date;
}

export interface LinkSubject {
  reservationId: string;
  /** The deadline the warning is about; the links act only while it is still the deadline. */
  deadline: Date;
  now: Date;
}

type LinkSettings = Pick<ActionSettings, 'baseUrl' | 'signingKey' | 'linkTtlMinutes' | 'defaultExtendMinutes'>;

/** The path under ACTION_BASE_URL that carries a token (query strings do not reach functions). */
export const ACTION_PATH_PREFIX = '/a/';

/** A short id: 9 random bytes, base64url, so exactly 12 characters and 72 bits nobody can guess. */
export const SHORT_ID_SHAPE = /^[A-Za-z0-9_-]{12}$/;

export function newShortId(): string {
  return randomBytes(9).toString('base64url');
}

export async function actionLinks(settings: LinkSettings, subject: LinkSubject, store?: Db): Promise<ActionLink[]> {
  const links = await signedLinks(settings, subject);
  if (store === undefined || links.length === 0) return links.map(({ token: _token, ...link }) => link);
  const rows = links.map(({ token, action, expiresAt }) => ({
    shortId: newShortId(),
    token,
    action,
    expiresAt,
    reservationId: subject.reservationId,
    deadline: subject.deadline,
  }));
  await insertShortLinks(store, rows, subject.now);
  return links.map(({ token: _token, ...link }, index) => ({
    ...link,
    shortUrl: actionUrl(settings.baseUrl!, rows[index]!.shortId),
  }));
}

/**
 * The links of many warnings at once, in their order, with every short id stored in one statement
 * (a batch of warnings costs one write, whatever its size). If storing fails, the long links still
 * go out: the short ones are a convenience, the warning is what matters.
 */
export async function actionLinksForMany(
  settings: LinkSettings,
  subjects: LinkSubject[],
  store: Db,
): Promise<ActionLink[][]> {
  const signed = await Promise.all(subjects.map((subject) => signedLinks(settings, subject)));
  const long = signed.map((links) => links.map(({ token: _token, ...link }) => link));
  const rows = signed.flatMap((links, index) =>
    links.map(({ token, action, expiresAt }) => ({
      shortId: newShortId(),
      token,
      action,
      expiresAt,
      reservationId: subjects[index]!.reservationId,
      deadline: subjects[index]!.deadline,
    })),
  );
  if (rows.length === 0) return long;
  try {
    await insertShortLinks(store, rows, subjects[0]!.now);
  } catch {
    return long;
  }
  let next = 0;
  return long.map((links) =>
    links.map((link) => ({ ...link, shortUrl: actionUrl(settings.baseUrl!, rows[next++]!.shortId) })),
  );
}

async function signedLinks(settings: LinkSettings, subject: LinkSubject): Promise<(ActionLink & { token: string })[]> {
  const { baseUrl, signingKey } = settings;
  if (baseUrl === undefined || signingKey === undefined) return [];
  const expiresAt = new Date(subject.now.getTime() + settings.linkTtlMinutes * 60_000);
  const minutes = settings.defaultExtendMinutes;
  const wanted: { action: ActionKind; label: string; minutes?: number }[] = [
    { action: 'extend', label: `Extend by ${formatMinutes(minutes)}`, minutes },
    { action: 'snooze', label: 'Snooze these warnings' },
    { action: 'end-now', label: 'End now (work saved)' },
  ];
  return Promise.all(
    wanted.map(async ({ action, label, minutes: by }) => {
      const token = await signActionToken(signingKey, { ...subject, action, minutes: by, expiresAt });
      return { action, label, expiresAt, url: actionUrl(baseUrl, token), token };
    }),
  );
}

export function actionUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${ACTION_PATH_PREFIX}${token}`;
}

/** 120 -> "2h", 90 -> "1h 30m", 45 -> "45m". */
export function formatMinutes(minutes: number): string {
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours === 0) return `${rest}m`;
  return rest === 0 ? `${hours}h` : `${hours}h ${rest}m`;
}
