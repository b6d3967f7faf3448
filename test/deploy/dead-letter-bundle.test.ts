/*
 * The Knative dead-letter sink as it is deployed: the built expire bundle, loaded by the
 * node22 template's index.js in its own process, takes a dead letter on POST /dead-letters
 * (the deadLetterSink of k8s/knative/broker.yaml and triggers.yaml) and keeps it once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/free-port.js';
import { DEAD_LETTER_PATH } from '../../shared/runtime/dead-letter-sink.js';
import { useTestDatabase } from '../support/database.js';
import { buildBundles, firstAnswer, hostBundle } from './hosted-bundles.js';
import type { BuiltBundles, HostedFunction } from './hosted-bundles.js';

const db = useTestDatabase();
let built: BuiltBundles;
let hosted: HostedFunction;
const ID = '5f0c2b1a-3d4e-4f60-8a71-b2c3d4e5f607';

beforeAll(async () => {
  built = await buildBundles(['expire']);
  const started = performance.now();
  hosted = hostBundle(built.host, built.bundles[0]!, await freePort(), {
    DATABASE_URL: db.url,
    KUBE_API_SERVER: 'http://127.0.0.1:9',
    KUBE_TOKEN: 'unused',
    EVENT_DELIVERY: 'none',
    LOG_LEVEL: 'error',
    SECRETS_DIR: '/nonexistent',
  });
  await firstAnswer(hosted, started, 30_000);
}, 90_000);

afterAll(async () => {
  await hosted?.stop();
  await built?.remove();
});

const send = (headers: Record<string, string>) =>
  fetch(`${hosted.url}${DEAD_LETTER_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{"reservationId":"r-9"}',
  });

describe('the expire bundle as the dead-letter sink', () => {
  it('keeps a dead letter once however often it arrives, and refuses a malformed one with 400', async () => {
    const letter = {
      'ce-specversion': '1.0',
      'ce-id': ID,
      'ce-source': 'https://10.0.0.1:443',
      'ce-type': 'dev.knative.apiserver.resource.update',
      'ce-knativeerrordest': 'http://oom-scan.devenv-lifecycle.svc.cluster.local',
      'ce-knativeerrorcode': '503',
      prefer: 'reply',
    };
    for (const _attempt of [1, 2]) {
      const answer = await send(letter);
      expect(answer.status).toBe(202);
      expect(await answer.text()).toBe('');
    }
    const refused = await send({
      ...letter,
      'ce-id': '5f0c2b1a-3d4e-4f60-8a71-b2c3d4e5f608',
      'ce-knativeerrordest': '',
    });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    const { rows } = await db.pool.query('select event_id, dead_reason, last_error from event_outbox');
    expect(rows).toEqual([
      {
        event_id: ID,
        dead_reason: 'knative',
        last_error: 'knative: 503 from http://oom-scan.devenv-lifecycle.svc.cluster.local',
      },
    ]);
  });
});
