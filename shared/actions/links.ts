/*
 * The action links a warning carries (the contract warn's channels render). One signed,
 * single-use, expiring URL per action, bound to the deadline the warning is about. A GET on a
 * link only shows a confirmation page (link previewers and mail scanners fetch URLs); the page's
 * POST acts. No links when ACTION_BASE_URL is not configured.
 *
 *   const links = await actionLinks(config.actions, { reservationId, deadline, now });
 *
 * Signing is asynchronous (WebCrypto), hence the Promise.
 */
import type { ActionSettings } from '../config.js';
import { signActionToken } from './token.js';
import type { ActionKind } from './token.js';

export interface ActionLink {
  action: ActionKind;
  url: string;
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

export async function actionLinks(settings: LinkSettings, subject: LinkSubject): Promise<ActionLink[]> {
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
      return { action, label, expiresAt, url: actionUrl(baseUrl, token) };
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
