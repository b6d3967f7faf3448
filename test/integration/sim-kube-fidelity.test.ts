/*
 * Fidelity of the simulated API server where it used to differ from a real one. Each test names
 * the upstream behaviour it pins: query booleans (apimachinery Convert_Slice_string_To_bool),
 * dry runs (API concepts, "Dry-run"), exec through the 1.30+ stream translator
 * (apiserver/pkg/util/proxy/websocket.go and streamtranslator.go), and graceful deletion
 * (apiserver/pkg/registry/rest/delete.go BeforeDelete; a pod on an unreachable node stays
 * Terminating until its kubelet or a force delete ends it).
 */
import http from 'node:http';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { createKube } from '../../shared/kube/index.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

let sim: Sim;
const clock = new ManualClock('2026-03-01T12:00:00Z');
let namespace: string;
let serial = 0;
let kube: ReturnType<typeof createKube>;

beforeAll(async () => {
  sim = await startSim({ clock });
  kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 2_000, execTimeoutMs: 3_000 });
});
afterAll(() => sim.close());
beforeEach(() => {
  serial += 1;
  namespace = `fid-${serial}`;
  sim.kube.addNamespace(namespace);
  sim.kube.setExecProtocols(['v5.channel.k8s.io', 'v4.channel.k8s.io']);
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${sim.token}`, 'content-type': contentType },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** The first line a watch sends, or undefined when the answer is a plain list. */
function firstWatchLine(path: string): Promise<{ watching: boolean; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${sim.url}${path}`, { headers: { authorization: `Bearer ${sim.token}` } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        if (text.includes('\n')) {
          req.destroy();
          resolve({ watching: true, text: text.split('\n')[0]! });
        }
      });
      res.on('end', () => resolve({ watching: false, text }));
    });
    req.on('error', reject);
  });
}

interface WsExec {
  frames: Buffer[];
  closed: Promise<void>;
  ws: WebSocket;
  opened: Promise<void>;
}

function openExec(pod: string, query: string, protocol = 'v5.channel.k8s.io'): WsExec {
  const url = `${sim.url.replace('http', 'ws')}/api/v1/namespaces/${namespace}/pods/${pod}/exec?${query}`;
  const ws = new WebSocket(url, [protocol], { headers: { authorization: `Bearer ${sim.token}` } });
  const frames: Buffer[] = [];
  ws.on('message', (data: Buffer) => frames.push(Buffer.from(data)));
  return {
    ws,
    frames,
    opened: new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    closed: new Promise((resolve) => ws.once('close', () => resolve())),
  };
}

const status = (frames: Buffer[]) =>
  JSON.parse(
    frames
      .find((f) => f[0] === 3 && f.length > 1)!
      .subarray(1)
      .toString('utf8'),
  ) as Record<string, unknown>;

describe('boolean query parameters: anything but absent, "false" or "0" is true (Convert_Slice_string_To_bool)', () => {
  it('watch=True streams events instead of answering a list', async () => {
    sim.kube.addPod({ name: 'w1', namespace });
    const answer = await firstWatchLine(`/api/v1/namespaces/${namespace}/pods?watch=True`);
    expect(answer.watching).toBe(true);
    expect(JSON.parse(answer.text)).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'w1' } } });
    const plain = await firstWatchLine(`/api/v1/namespaces/${namespace}/pods?watch=False`);
    expect(JSON.parse(plain.text)).toMatchObject({ kind: 'PodList' });
  });

  it('exec with stdin=True reads stdin', async () => {
    const pod = sim.kube.addPod({ name: 'b1', namespace });
    const exec = openExec(
      'b1',
      'command=sh&command=-c&command=cat%20%3E%20%22%241%22&command=sh&command=/home/dev/x&stdin=True&stdout=True&stderr=True',
    );
    await exec.opened;
    exec.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello')]));
    exec.ws.send(Buffer.from([255, 0]));
    await exec.closed;
    expect(sim.kube.readFile(pod, '/home/dev/x')).toBe('hello');
  });
});

describe('dryRun=All checks and answers but changes nothing (API concepts: Dry-run)', () => {
  it('a dry-run create answers 201 with the object and stores nothing, spends no resourceVersion', async () => {
    const before = sim.kube.list('pods', namespace).length;
    const listed = await call('GET', `/api/v1/namespaces/${namespace}/pods`);
    const body = { metadata: { name: 'dry' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
    const created = await call('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, body);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ metadata: { name: 'dry', namespace } });
    expect(sim.kube.list('pods', namespace)).toHaveLength(before);
    const after = await call('GET', `/api/v1/namespaces/${namespace}/pods`);
    expect((after.json.metadata as { resourceVersion: string }).resourceVersion).toBe(
      (listed.json.metadata as { resourceVersion: string }).resourceVersion,
    );
  });

  it('a dry-run delete, patch and deletecollection leave the pod as it was', async () => {
    const pod = sim.kube.addPod({ name: 'keep', namespace, labels: { a: 'b' } });
    const path = `/api/v1/namespaces/${namespace}/pods/keep`;
    const deleted = await call('DELETE', `${path}?dryRun=All&gracePeriodSeconds=0`);
    expect(deleted.status).toBe(200);
    const patched = await call(
      'PATCH',
      `${path}?dryRun=All`,
      { metadata: { labels: { a: 'c' } } },
      'application/merge-patch+json',
    );
    expect(patched.json).toMatchObject({ metadata: { labels: { a: 'c' } } });
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods?dryRun=All`);
    await call('DELETE', `/api/v1/namespaces/${namespace}?dryRun=All`);
    expect(sim.kube.pod(pod)).toMatchObject({ metadata: { labels: { a: 'b' } } });
    expect(sim.kube.pod(pod)?.metadata.deletionTimestamp).toBeUndefined();
  });

  it('a dry run still refuses what the real call would (AlreadyExists), and an unknown dryRun value is 422', async () => {
    sim.kube.addPod({ name: 'twice', namespace });
    const body = { metadata: { name: 'twice' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
    expect((await call('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, body)).status).toBe(409);
    const bad = await call('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=Yes`, {
      ...body,
      metadata: { name: 'other' },
    });
    expect(bad).toMatchObject({ status: 422, json: { reason: 'Invalid' } });
    expect(sim.kube.pod({ namespace, name: 'other' })).toBeUndefined();
  });
});

describe('exec through the 1.30+ stream translator', () => {
  it('a container that is not running: the upgrade succeeds and an InternalError Status arrives on the error channel (our client: Transient)', async () => {
    sim.kube.addPod({ name: 'pending', namespace, phase: 'Pending' });
    const exec = openExec('pending', 'command=true&stdout=true');
    await exec.opened;
    await exec.closed;
    expect(status(exec.frames)).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500 });
    await expect(kube.exec({ namespace, pod: 'pending', container: 'gpu-dev' }, ['true'])).rejects.toMatchObject({
      name: 'Transient',
    });
  });

  it('with only v4 (no translator) the same exec is refused on the upgrade with 400', async () => {
    sim.kube.setExecProtocols(['v4.channel.k8s.io']);
    sim.kube.addPod({ name: 'pending4', namespace, phase: 'Pending' });
    const exec = openExec('pending4', 'command=true&stdout=true', 'v4.channel.k8s.io');
    const refused = await exec.opened.then(
      () => 'opened',
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/400/);
  });

  it('sends an empty frame on the lowest writable channel first (stdout, else stderr, else the error channel)', async () => {
    sim.kube.addPod({ name: 'e1', namespace });
    const withStdout = openExec('e1', 'command=echo&command=hi&stdout=true&stderr=true');
    await withStdout.closed;
    expect(withStdout.frames[0]).toEqual(Buffer.from([1]));
    const onlyStderr = openExec('e1', 'command=true&stderr=true');
    await onlyStderr.closed;
    expect(onlyStderr.frames[0]).toEqual(Buffer.from([2]));
    const none = openExec('e1', 'command=true');
    await none.closed;
    expect(none.frames[0]).toEqual(Buffer.from([3]));
  });

  it('takes stdin in text frames too', async () => {
    const pod = sim.kube.addPod({ name: 't1', namespace });
    const exec = openExec('t1', 'command=tee&command=/home/dev/t&stdin=true&stdout=true');
    await exec.opened;
    exec.ws.send('\u0000from text', { binary: false });
    exec.ws.send(Buffer.from([255, 0]));
    await exec.closed;
    expect(sim.kube.readFile(pod, '/home/dev/t')).toBe('from text');
  });

  it('a v5 exec with stdin open runs a command that does not read stdin at once', async () => {
    const pod = sim.kube.addPod({ name: 'o1', namespace });
    const exec = openExec(
      'o1',
      'command=sh&command=-c&command=echo%20done%20%3E%20/home/dev/done&stdin=true&stdout=true',
    );
    await exec.closed; // never sent stdin or the close frame
    expect(status(exec.frames)).toMatchObject({ status: 'Success' });
    expect(sim.kube.readFile(pod, '/home/dev/done')).toBe('done\n');
  });

  it('a v4 exec whose client closes the socket still runs to the end of its input, as a kubelet does', async () => {
    sim.kube.setExecProtocols(['v4.channel.k8s.io']);
    const pod = sim.kube.addPod({ name: 'c4', namespace });
    const exec = openExec(
      'c4',
      'command=sh&command=-c&command=cat%20%3E%20%22%241%22&command=sh&command=/home/dev/c&stdin=true&stdout=true',
      'v4.channel.k8s.io',
    );
    await exec.opened;
    exec.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('partial')]));
    exec.ws.close();
    await exec.closed;
    await expect.poll(() => sim.kube.readFile(pod, '/home/dev/c')).toBe('partial');
  });

  it('a missing binary is an InternalError status, not exit 127', async () => {
    sim.kube.addPod({ name: 'm1', namespace });
    const exec = openExec('m1', 'command=notify-send&stdout=true');
    await exec.closed;
    expect(status(exec.frames)).toMatchObject({
      reason: 'InternalError',
      message: expect.stringMatching(/executable file not found in \$PATH/),
    });
    expect(sim.kube.execs({ namespace, name: 'm1' })[0]).toMatchObject({
      exitCode: -1,
      refused: expect.stringMatching(/notify-send/),
    });
  });
});

describe('deletion timing', () => {
  it('a second, shorter grace period counts from the first delete (BeforeDelete: deletionTimestamp - old grace + new grace)', async () => {
    const pod = sim.kube.addPod({ name: 'g1', namespace });
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods/g1?gracePeriodSeconds=60`);
    clock.advanceSeconds(20);
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods/g1?gracePeriodSeconds=30`);
    const seen = sim.kube.pod(pod)!;
    expect(seen.metadata.deletionGracePeriodSeconds).toBe(30);
    // 30 s after the first delete, i.e. 10 s from now; not 30 s from now
    expect(Date.parse(seen.metadata.deletionTimestamp!) - clock.now().getTime()).toBe(10_000);
    clock.advanceSeconds(9);
    sim.kube.tick();
    expect(sim.kube.pod(pod)).toBeDefined();
    clock.advanceSeconds(1);
    sim.kube.tick();
    expect(sim.kube.pod(pod)).toBeUndefined();
  });

  it('a longer second grace period changes nothing', async () => {
    const pod = sim.kube.addPod({ name: 'g2', namespace });
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods/g2?gracePeriodSeconds=30`);
    const first = sim.kube.pod(pod)!.metadata.deletionTimestamp;
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods/g2?gracePeriodSeconds=300`);
    expect(sim.kube.pod(pod)!.metadata).toMatchObject({ deletionTimestamp: first, deletionGracePeriodSeconds: 30 });
  });

  it('a pod on a lost node stays Terminating past its grace period, until force-deleted', async () => {
    sim.kube.addNode({ name: `node-${serial}` });
    const pod = sim.kube.addPod({ name: 'lost', namespace, nodeName: `node-${serial}` });
    sim.kube.loseNode(`node-${serial}`);
    expect(sim.kube.list('nodes').find((n) => n.metadata.name === `node-${serial}`)).toMatchObject({
      status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
    });
    expect(sim.kube.pod(pod)!.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('False');
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods/lost?gracePeriodSeconds=30`);
    clock.advanceSeconds(600);
    sim.kube.tick();
    expect(sim.kube.pod(pod)?.metadata.deletionTimestamp).toBeDefined();
    await expect(kube.exec({ namespace, pod: 'lost', container: 'gpu-dev' }, ['true'])).rejects.toMatchObject({
      name: 'Transient',
    });
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods/lost?gracePeriodSeconds=0`);
    expect(sim.kube.pod(pod)).toBeUndefined();
  });

  it('a force-deleted pod on a lost node leaves its EBS volume attached until the node is back (no detach from a node nobody reaches)', async () => {
    sim.kube.addNode({ name: `ebs-${serial}` });
    const { volumeId } = sim.aws.addVolume({ sizeGiB: 8, attachedTo: `ebs-${serial}` });
    sim.kube.addPod({
      name: 'ebs',
      namespace,
      nodeName: `ebs-${serial}`,
      volumes: [{ name: 'disk', awsElasticBlockStore: { volumeID: volumeId } }],
    });
    sim.kube.loseNode(`ebs-${serial}`);
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods/ebs?gracePeriodSeconds=0`);
    expect(sim.kube.pod({ namespace, name: 'ebs' })).toBeUndefined();
    expect(sim.aws.volume(volumeId)?.state).toBe('in-use');
    sim.kube.restoreNode(`ebs-${serial}`);
    expect(sim.aws.volume(volumeId)?.state).toBe('available');
  });

  it('when the node comes back, pods whose grace period passed meanwhile go', async () => {
    sim.kube.addNode({ name: `back-${serial}` });
    const pod = sim.kube.addPod({ name: 'back', namespace, nodeName: `back-${serial}` });
    sim.kube.loseNode(`back-${serial}`);
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods/back?gracePeriodSeconds=30`);
    clock.advanceSeconds(60);
    sim.kube.tick();
    expect(sim.kube.pod(pod)).toBeDefined();
    sim.kube.restoreNode(`back-${serial}`);
    expect(sim.kube.pod(pod)).toBeUndefined();
  });
});

describe('what kubectl needs without flags (checked here without kubectl too)', () => {
  const tableAccept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

  it('answers a Table for pods when asked (printers.go printPod columns and cells)', async () => {
    const pod = sim.kube.addPod({ name: 'tab', namespace });
    sim.kube.oomKill(pod);
    clock.advanceSeconds(90);
    const res = await fetch(`${sim.url}/api/v1/namespaces/${namespace}/pods`, { headers: { accept: tableAccept } });
    const table = (await res.json()) as {
      kind: string;
      columnDefinitions: { name: string; priority: number }[];
      rows: { cells: unknown[]; object: { kind: string } }[];
    };
    expect(table.kind).toBe('Table');
    expect(table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual([
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
    ]);
    expect(table.rows[0]!.cells.slice(0, 5)).toEqual(['tab', '1/1', 'Running', '1 (90s ago)', '90s']);
    expect(table.rows[0]!.object.kind).toBe('PartialObjectMetadata');
    await call('DELETE', `/api/v1/namespaces/${namespace}/pods/tab`);
    const one = (await (
      await fetch(`${sim.url}/api/v1/namespaces/${namespace}/pods/tab`, { headers: { accept: tableAccept } })
    ).json()) as { rows: { cells: unknown[] }[] };
    expect(one.rows[0]!.cells[2]).toBe('Terminating');
  });

  it('serves OpenAPI v3 whose PATCH operations take fieldValidation, so kubectl validates on the server (QueryParamVerifierV3)', async () => {
    const root = (await call('GET', '/openapi/v3')).json as { paths: Record<string, { serverRelativeURL: string }> };
    expect(Object.keys(root.paths)).toEqual(['api/v1', 'apis/networking.k8s.io/v1']);
    const doc = (await call('GET', root.paths['api/v1']!.serverRelativeURL)).json as {
      paths: Record<
        string,
        { patch?: { 'x-kubernetes-group-version-kind': object; parameters: { name: string; in: string }[] } }
      >;
    };
    const patch = doc.paths['/api/v1/namespaces/{namespace}/pods/{name}']?.patch;
    expect(patch?.['x-kubernetes-group-version-kind']).toEqual({ group: '', version: 'v1', kind: 'Pod' });
    expect(patch?.parameters).toContainEqual(expect.objectContaining({ name: 'fieldValidation', in: 'query' }));
  });
});
