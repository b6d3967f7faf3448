/*
 * The words of a warning, pure. The file name is what the image's prompt hook looks for
 * (WARN_EXPIRES_IN_<N>MIN.txt, N whole minutes, digits only); the bands follow the origin's
 * INFO / NOTICE / WARNING / URGENT wording so users see what they are used to.
 */
export const WARNING_DIR = '/home/dev';

export function warningFileName(minutesLeft: number): string {
  return `${WARNING_DIR}/WARN_EXPIRES_IN_${Math.max(0, Math.floor(minutesLeft))}MIN.txt`;
}

export interface WarningText {
  reservationId: string;
  minutesLeft: number;
  expiresAt: Date;
  now: Date;
  /** Signed action links (extend, snooze, end now); only the file shows them, never an argv. */
  links?: readonly LinkText[];
}

export interface LinkText {
  label: string;
  url: string;
  /** The short form (/a/<id>), shown instead of the long one where present. */
  shortUrl?: string;
  expiresAt: Date;
}

/**
 * An id as text a person reads: control characters (newlines, ESC sequences, C1 codes, bidi
 * overrides) are removed so an id cannot forge lines or repaint a terminal through `wall`.
 */
export function printable(text: string): string {
  return text.replace(/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, '');
}

/**
 * An id as one word of a POSIX shell command the user may paste: left bare when it is made only of
 * characters no shell treats specially, otherwise single-quoted ('\'' for a quote inside).
 */
export function shellWord(text: string): string {
  const clean = printable(text);
  if (/^[A-Za-z0-9._-]+$/.test(clean)) return clean;
  return `'${clean.replace(/'/g, `'\\''`)}'`;
}

/** The command that extends a reservation, safe to paste into the user's shell. */
export function extendCommand(reservationId: string): string {
  return `gpu-dev extend ${shellWord(reservationId)}`;
}

function headline({ reservationId, minutesLeft }: WarningText): string {
  const short = printable(reservationId).slice(0, 8);
  if (minutesLeft <= 0) return `URGENT: reservation ${short} expires in less than 1 minute!`;
  const span = `${minutesLeft} minute${minutesLeft === 1 ? '' : 's'}`;
  if (minutesLeft <= 5) return `WARNING: reservation ${short} expires in ${span}!`;
  if (minutesLeft <= 15) return `NOTICE: reservation ${short} expires in ${span}.`;
  return `INFO: reservation ${short} expires in ${span}.`;
}

/** The file content: banner, time left, exact expiry (UTC), advice, and how to extend. */
export function warningFileContent(text: WarningText): string {
  const rule = '='.repeat(72);
  return [
    rule,
    '  GPU DEV SERVER EXPIRY WARNING',
    rule,
    '',
    headline(text),
    '',
    `Time remaining: ${Math.max(0, text.minutesLeft)} minutes`,
    `Expires at:     ${utc(text.expiresAt)}`,
    '',
    'Save your work now: commit and push your code and copy anything you need off this machine.',
    'When the reservation expires, this server is shut down.',
    '',
    'Need more time? Extend the reservation:',
    `    ${extendCommand(text.reservationId)}`,
    '',
    ...linkLines(text.links ?? []),
    `Generated at ${utc(text.now)}`,
    rule,
    '',
  ].join('\n');
}

/**
 * The action links, each on its own line so a terminal can select it. Opening one only shows a
 * confirmation page; nothing happens until its button is pressed.
 */
function linkLines(links: readonly LinkText[]): string[] {
  if (links.length === 0) return [];
  const width = Math.max(...links.map((link) => printable(link.label).length)) + 1;
  return [
    `Or open a link (it shows what will happen and asks you to confirm; valid until ${utc(links[0]!.expiresAt)}):`,
    ...links.map(
      (link) => `    ${`${printable(link.label)}:`.padEnd(width + 1)} ${printable(link.shortUrl ?? link.url)}`,
    ),
    '',
  ];
}

/**
 * The one-line notice broadcast to logged-in terminals. It never carries an action link: it is an
 * exec argument, and exec arguments travel in the request URL, which API servers write to their
 * audit logs.
 */
export function broadcastText(text: WarningText): string {
  return `${headline(text)} Expires at ${utc(text.expiresAt)}. Extend with: ${extendCommand(text.reservationId)}\n`;
}

function utc(instant: Date): string {
  return `${instant
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, '')} UTC`;
}
