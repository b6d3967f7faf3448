/*
 * GET /why/<id>: the `devenv-lifecycle why` timeline as JSON, for a platform's own UI. Read-only;
 * people's ids are masked as in the logs. 400 problem+json for an id that cannot be one, 404 when
 * nothing is known about it, 503 when the database is not configured or cannot be read.
 */
import type { Db } from '../shared/db/pool.js';
import { knowsNothing, loadTimeline } from '../shared/db/queries/timeline.js';
import { Invalid } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { buildWhy, checkWhyId } from '../local/why.js';

export interface Answer {
  status: number;
  type: string;
  body: string;
}

const problem = (status: number, slug: string, title: string, detail: string): Answer => ({
  status,
  type: 'application/problem+json',
  body: JSON.stringify({ type: `urn:devenv-lifecycle:problem:${slug}`, title, status, detail }),
});

/** `encoded` is what follows /why/ in the request path, still percent-encoded. */
export async function answerWhy(db: Db | undefined, encoded: string, log?: Logger): Promise<Answer> {
  let id: string;
  try {
    id = checkWhyId(decodeURIComponent(encoded));
  } catch (err) {
    const detail = err instanceof Invalid ? err.message : 'the id is not valid percent-encoded UTF-8';
    return problem(400, 'invalid-input', 'Invalid id', detail);
  }
  if (!db)
    return problem(
      503,
      'not-configured',
      'No database',
      'pod-watch has no database configured (DATABASE_URL or POSTGRES_PASSWORD)',
    );
  try {
    const sources = await loadTimeline(db, id);
    if (knowsNothing(sources))
      return problem(404, 'not-found', 'Nothing known', 'no reservation or lab has this id and no decision names it');
    return { status: 200, type: 'application/json; charset=utf-8', body: JSON.stringify(buildWhy(sources)) };
  } catch (err) {
    log?.warn({ err }, 'why: the database could not be read');
    return problem(
      503,
      'temporarily-unavailable',
      'Temporarily unavailable',
      'the database could not be read; retry later',
    );
  }
}
