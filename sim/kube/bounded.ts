/*
 * Records a long-running simulator (npm start) keeps — requests, execs, broadcasts — hold the most
 * recent entries only, so a demo left running for days does not grow without bound.
 */
const defaultLimit = 10_000;

export function appendBounded<T>(record: T[], entry: T, limit = defaultLimit): void {
  record.push(entry);
  if (record.length > limit) record.splice(0, record.length - limit);
}
