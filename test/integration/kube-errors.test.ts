/*
 * Error translation through the real client: only a 404 that names the object is NotFound;
 * server errors, throttling, timeouts, resets and refused connections are Transient; bad requests
 * are Invalid; authentication failures are Fatal. Messages never carry the response headers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Conflict, Fatal, Invalid, NotFound, Transient } from '../../shared/errors.js';
import { createKube } from '../../shared/kube/index.js';
import type { Kube } from '../../shared/kube/index.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

let sim: Sim;
let kube: Kube;
const namespace = 'errors';
const podPath = `/api/v1/namespaces/${namespace}/pods/p`;

// Only the timeout tests want a call cut short, and they hold the answer far longer than their
// client waits; every other call gets a limit no loaded machine reaches, so a slow answer is never
// mistaken for the error under test.
const PATIENT_MS = 30_000;
const SHORT_MS = 1_000;
const HELD_MS = 60_000;

beforeAll(async () => {
  sim = await startSim();
  kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: PATIENT_MS, execTimeoutMs: PATIENT_MS });
  sim.kube.addPod({ name: 'p', namespace });
});
afterAll(() => sim.close());
beforeEach(() => sim.faults.clear());

async function failureOf(call: Promise<unknown>): Promise<Error> {
  const outcome = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(outcome instanceof Error)) throw new Error('expected the call to fail');
  return outcome;
}

const getPod = () => kube.getPod({ namespace, name: 'p' });

describe('NotFound', () => {
  it('is a 404 Status that names the pod', async () => {
    const err = await failureOf(kube.getPod({ namespace, name: 'missing' }));
    expect(err).toBeInstanceOf(NotFound);
    expect(err.message).toBe(`get pod ${namespace}/missing: HTTP 404 NotFound: pods "missing" not found`);
    expect((err.cause as { code?: number }).code).toBe(404);
  });

  it('is not a 404 without a Status body, e.g. from a proxy in front of the wrong server', async () => {
    sim.faults.add({ path: podPath, status: 404, body: { message: 'default backend - 404' }, count: 1 });
    const err = await failureOf(getPod());
    expect(err).toBeInstanceOf(Fatal);
    expect(err).not.toBeInstanceOf(NotFound);
  });

  it('is not the 404 for a resource type the server does not serve', async () => {
    sim.faults.add({
      path: podPath,
      status: 404,
      body: {
        kind: 'Status',
        reason: 'NotFound',
        message: 'the server could not find the requested resource',
        details: {},
        code: 404,
      },
      count: 1,
    });
    expect(await failureOf(getPod())).toBeInstanceOf(Fatal);
  });

  it('is not a 404 that names a different object', async () => {
    sim.faults.add({
      path: podPath,
      status: 404,
      body: {
        kind: 'Status',
        reason: 'NotFound',
        message: 'namespaces "x" not found',
        details: { name: 'x', kind: 'namespaces' },
        code: 404,
      },
      count: 1,
    });
    expect(await failureOf(getPod())).toBeInstanceOf(Fatal);
  });
});

describe('Transient', () => {
  it('is a 500, and the message has the Status but not the headers', async () => {
    sim.faults.add({ path: podPath, status: 500, count: 1 });
    const err = await failureOf(getPod());
    expect(err).toBeInstanceOf(Transient);
    expect(err.message).toMatch(/^get pod errors\/p: HTTP 500 InternalError: fault injected/);
    expect(err.message).not.toMatch(/content-type|Headers/i);
  });

  it("is a 429, with the server's Retry-After as retryAfterMs", async () => {
    sim.faults.add({ path: podPath, status: 429, retryAfterSeconds: 2, count: 1 });
    const err = await failureOf(getPod());
    expect(err).toBeInstanceOf(Transient);
    expect((err as Transient).retryAfterMs).toBe(2_000);
  });

  it('is an answer slower than the request timeout', async () => {
    const impatient = createKube({
      server: sim.url,
      token: sim.token,
      requestTimeoutMs: SHORT_MS,
      execTimeoutMs: PATIENT_MS,
    });
    sim.faults.add({ path: podPath, delayMs: HELD_MS, count: 1 });
    const started = performance.now();
    const err = await failureOf(impatient.getPod({ namespace, name: 'p' }));
    expect(err).toBeInstanceOf(Transient);
    expect(err.message).toBe(`get pod errors/p: no answer within ${SHORT_MS} ms`);
    // Cut short by the client, not ended by the answer (held for a minute).
    expect(performance.now() - started).toBeLessThan(HELD_MS / 2);
  });

  it('is a connection reset', async () => {
    sim.faults.add({ path: podPath, reset: true, count: 1 });
    const err = await failureOf(getPod());
    expect(err).toBeInstanceOf(Transient);
    expect(err.message).toMatch(/connection failed \(ECONNRESET\)/);
  });

  it('is a refused connection', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const closed = createKube({
      server: `http://127.0.0.1:${port}`,
      token: 't',
      requestTimeoutMs: PATIENT_MS,
      execTimeoutMs: PATIENT_MS,
    });
    const err = await failureOf(closed.getPod({ namespace, name: 'p' }));
    expect(err).toBeInstanceOf(Transient);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it("is a cancellation by the caller's signal", async () => {
    sim.faults.add({ path: podPath, delayMs: HELD_MS, count: 1 });
    const err = await failureOf(kube.getPod({ namespace, name: 'p', signal: AbortSignal.timeout(50) }));
    expect(err).toBeInstanceOf(Transient);
    expect(err.message).toMatch(/cancelled by the caller/);
  });
});

describe('the rest', () => {
  it('a 409 is Conflict', async () => {
    sim.faults.add({ method: 'DELETE', path: podPath, status: 409, count: 1 });
    expect(await failureOf(kube.deletePod({ namespace, name: 'p', gracePeriodSeconds: 0 }))).toBeInstanceOf(Conflict);
    expect(sim.kube.pod({ namespace, name: 'p' })).toBeDefined();
  });

  it('an unsupported field selector is Invalid, as the server refuses it with 400', async () => {
    const err = await failureOf(kube.listPods({ namespace, fieldSelector: 'spec.hostname=x' }));
    expect(err).toBeInstanceOf(Invalid);
    expect(err.message).toMatch(/field label not supported: spec.hostname/);
  });

  it('a 422 is Invalid', async () => {
    sim.faults.add({ path: podPath, status: 422, count: 1 });
    expect(await failureOf(getPod())).toBeInstanceOf(Invalid);
  });

  it('a wrong token is Fatal (401), and so is a 403', async () => {
    const stranger = createKube({
      server: sim.url,
      token: 'wrong',
      requestTimeoutMs: PATIENT_MS,
      execTimeoutMs: PATIENT_MS,
    });
    const err = await failureOf(stranger.getPod({ namespace, name: 'p' }));
    expect(err).toBeInstanceOf(Fatal);
    // The client drops the body of a 401 (test-harness notes), so only the code is known.
    expect(err.message).toBe(`get pod ${namespace}/p: HTTP 401`);
    sim.faults.add({ path: podPath, status: 403, count: 1 });
    expect(await failureOf(getPod())).toBeInstanceOf(Fatal);
  });

  it('no configured way to reach the API is Fatal at construction', () => {
    expect(() => createKube({ requestTimeoutMs: 1, execTimeoutMs: 1 })).toThrow(Fatal);
    expect(() =>
      createKube({ kubeconfigPath: '/nonexistent/kubeconfig', requestTimeoutMs: 1, execTimeoutMs: 1 }),
    ).toThrow(/cannot load/);
  });
});
