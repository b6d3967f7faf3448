/*
 * The control API of a running simulator, under /_sim/ on its own port: what tests do in process
 * through `sim.kube`, `sim.aws` and `sim.faults`, for a person (or script) rehearsing an outage
 * against `npm start` or `npm run sim`. Loopback clients only. Control requests are neither
 * recorded in `requests` nor subject to fault rules, so a rehearsal cannot lock itself out.
 * `GET /_sim/` lists the endpoints.
 */
import type http from 'node:http';
import type { Clock } from '../shared/clock.js';
import type {
  AwsFault,
  AwsFaultRule,
  AwsSim,
  SimAttachmentState,
  SimSnapshotState,
  SimVolumeState,
} from './aws/index.js';
import type { FaultRule, Faults } from './faults.js';
import type { KubeScenario } from './kube/index.js';
import type { PodPhase } from './kube/pod-status.js';
import type { RecordedRequest } from './recorded-request.js';

export const controlPrefix = '/_sim/';

export interface ControlParts {
  clock: Clock;
  kube: KubeScenario;
  aws: AwsSim;
  faults: Faults;
  log: RecordedRequest[];
}

type Json = Record<string, unknown>;

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const endpoints = [
  'GET    /_sim/                                  this list',
  'GET    /_sim/state                             pods, nodes, volumes, snapshots, active faults',
  'POST   /_sim/faults            {path | pathRegex, method?, status?, awsErrorCode?, retryAfterSeconds?, delayMs?, reset?, dropWatch?, probability?, count?, forSeconds?, label?}',
  'GET    /_sim/faults                            active rules and fired counts',
  'DELETE /_sim/faults[?label=L]                  clear route faults (all, or one label)',
  'POST   /_sim/aws-faults        {service, action?, times?, fault: {kind, …}}',
  'DELETE /_sim/aws-faults                        clear per-action AWS faults',
  'POST   /_sim/pods/NS/NAME/oom-kill   {container?}',
  'POST   /_sim/pods/NS/NAME/evict',
  'POST   /_sim/pods/NS/NAME/fail       {reason, message?}',
  'POST   /_sim/pods/NS/NAME/phase      {phase}',
  'POST   /_sim/pods/NS/NAME/delete-behind-our-back',
  'GET    /_sim/pods/NS/NAME/files?dir=/home/dev&container=C   files and their text',
  'POST   /_sim/nodes/NAME/lose | /restore',
  'POST   /_sim/volumes/ID/state        {state}    creating|available|in-use|deleting|deleted|error',
  'POST   /_sim/volumes/ID/attachment   {state}    attaching|attached|detaching|detached',
  'POST   /_sim/snapshots/ID/state      {state}    pending|completed|error',
  'GET    /_sim/execs[?namespace=NS&pod=NAME]     every exec',
  'GET    /_sim/broadcasts                        what wall received',
  'GET    /_sim/requests[?limit=N]                the latest requests (default 100)',
  'GET    /_sim/aws-calls[?limit=N]               the latest EC2/Lambda calls',
  'POST   /_sim/reset                             end every scripted failure: faults cleared, lost nodes restored, logs emptied (pods, volumes and snapshots stay)',
];

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

function parse(body: Buffer): Json {
  if (body.length === 0) return {};
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Json;
  } catch {
    // answered below
  }
  throw new ControlError(400, 'the body must be a JSON object');
}

function text(body: Json, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') throw new ControlError(400, `${field} is required (a string)`);
  return value;
}

const optionalNumber = (body: Json, field: string): number | undefined => {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ControlError(400, `${field} must be a number`);
  return value;
};

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new ControlError(400, `${what} must be one of ${allowed.join(', ')}; got "${value}"`);
  return value as T;
}

/** A route fault rule from JSON: `pathRegex` becomes a RegExp, `forSeconds` an expiry on the clock. */
export function faultRuleFrom(body: Json, now: Date): FaultRule {
  const path = typeof body.pathRegex === 'string' ? new RegExp(body.pathRegex) : text(body, 'path');
  const forSeconds = optionalNumber(body, 'forSeconds');
  const rule: FaultRule = { path };
  if (typeof body.method === 'string') rule.method = body.method;
  if (typeof body.awsErrorCode === 'string') rule.awsErrorCode = body.awsErrorCode;
  if (typeof body.label === 'string') rule.label = body.label;
  if (body.reset === true) rule.reset = true;
  if (body.dropWatch === true) rule.dropWatch = true;
  for (const field of ['status', 'retryAfterSeconds', 'delayMs', 'probability', 'count'] as const) {
    const value = optionalNumber(body, field);
    if (value !== undefined) rule[field] = value;
  }
  if (forSeconds !== undefined) rule.until = new Date(now.getTime() + forSeconds * 1000);
  if (rule.status === undefined && !rule.reset && !rule.dropWatch && rule.delayMs === undefined) {
    throw new ControlError(400, 'a fault needs an effect: status, reset, dropWatch or delayMs');
  }
  return rule;
}

function awsFaultRuleFrom(body: Json): AwsFaultRule {
  const service = oneOf(text(body, 'service'), ['ec2', 'lambda'] as const, 'service');
  const fault = (typeof body.fault === 'object' && body.fault !== null ? body.fault : {}) as Json;
  const kind = oneOf(
    text(fault, 'kind'),
    ['throttle', 'error', 'reset', 'lose-response', 'delay'] as const,
    'fault.kind',
  );
  const built: AwsFault =
    kind === 'error'
      ? { kind, status: optionalNumber(fault, 'status') ?? 400, code: text(fault, 'code') }
      : kind === 'delay'
        ? { kind, delayMs: optionalNumber(fault, 'delayMs') ?? 1000 }
        : { kind };
  const times = optionalNumber(body, 'times');
  return {
    service,
    ...(typeof body.action === 'string' && { action: body.action }),
    ...(times !== undefined && { times }),
    fault: built,
  };
}

function state(parts: ControlParts): Json {
  const pods = parts.kube.list('pods').map((pod) => {
    const status = pod.status as { phase?: string; containerStatuses?: { restartCount: number }[] };
    return {
      pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
      phase: status.phase,
      node: (pod.spec as { nodeName?: string }).nodeName,
      restarts: (status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
      ...(pod.metadata.deletionTimestamp !== undefined && { terminatingUntil: pod.metadata.deletionTimestamp }),
    };
  });
  return {
    now: parts.clock.now(),
    pods,
    nodes: parts.kube.list('nodes').map((n) => n.metadata.name),
    lostNodes: parts.kube.lostNodes(),
    volumes: parts.aws.volumes(),
    snapshots: parts.aws.snapshots(),
    faults: parts.faults.active().map(describeRule),
  };
}

function describeRule({ rule, label, left }: { rule: FaultRule; label: string; left: number | null }): Json {
  return { ...rule, path: rule.path instanceof RegExp ? `/${rule.path.source}/` : rule.path, label, left };
}

const limitOf = (url: URL, fallback: number) =>
  Math.max(1, Number(url.searchParams.get('limit') ?? fallback) || fallback);

function podAction(parts: ControlParts, ref: { namespace: string; name: string }, action: string, body: Json): void {
  const { kube } = parts;
  switch (action) {
    case 'oom-kill':
      return kube.oomKill(ref, typeof body.container === 'string' ? body.container : undefined);
    case 'evict':
      return kube.evict(ref);
    case 'fail':
      return kube.failPod(ref, text(body, 'reason'), typeof body.message === 'string' ? body.message : '');
    case 'phase':
      return kube.setPodPhase(
        ref,
        oneOf(
          text(body, 'phase'),
          ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const,
          'phase',
        ) as PodPhase,
      );
    case 'delete-behind-our-back':
      return kube.deleteBehindOurBack(ref);
    default:
      throw new ControlError(404, `no pod action "${action}"`);
  }
}

function podFiles(parts: ControlParts, ref: { namespace: string; name: string }, url: URL): Json {
  const dir = url.searchParams.get('dir') ?? '/home/dev';
  const container = url.searchParams.get('container') ?? undefined;
  const names = parts.kube.listFiles(ref, dir, container);
  const files = Object.fromEntries(
    names.map((name) => [name, parts.kube.readFile(ref, `${dir.replace(/\/$/, '')}/${name}`, container) ?? null]),
  );
  return { pod: `${ref.namespace}/${ref.name}`, dir, files };
}

function reset(parts: ControlParts): Json {
  parts.faults.clear();
  parts.aws.clearFaults();
  const restored = parts.kube.lostNodes();
  for (const node of restored) parts.kube.restoreNode(node);
  parts.log.length = 0;
  parts.aws.clear();
  return { restoredNodes: restored };
}

function dispatch(parts: ControlParts, method: string, url: URL, body: Json): unknown {
  const segments = url.pathname.slice(controlPrefix.length).split('/').filter(Boolean).map(decodeURIComponent);
  const [head, a, b, c] = segments;
  const route = `${method} ${head ?? ''}`;
  switch (route) {
    case 'GET ':
      return { endpoints };
    case 'GET state':
      return state(parts);
    case 'GET faults':
      return { active: parts.faults.active().map(describeRule), fired: parts.faults.fired() };
    case 'POST faults': {
      const rule = faultRuleFrom(body, parts.clock.now());
      parts.faults.add(rule);
      return {
        added: describeRule({ rule, label: parts.faults.active().at(-1)?.label ?? '', left: rule.count ?? null }),
      };
    }
    case 'DELETE faults':
      return void parts.faults.clear(url.searchParams.get('label') ?? undefined);
    case 'POST aws-faults':
      return void parts.aws.addFault(awsFaultRuleFrom(body));
    case 'DELETE aws-faults':
      return void parts.aws.clearFaults();
    case 'GET execs': {
      const namespace = url.searchParams.get('namespace');
      const pod = url.searchParams.get('pod');
      return parts.kube.execs().filter((e) => (!namespace || e.namespace === namespace) && (!pod || e.pod === pod));
    }
    case 'GET broadcasts':
      return parts.kube.broadcasts();
    case 'GET requests':
      return parts.log.slice(-limitOf(url, 100)).map((r) => ({ ...r, query: r.query.toString() }));
    case 'GET aws-calls':
      return parts.aws.calls().slice(-limitOf(url, 100));
    case 'POST reset':
      return reset(parts);
    case 'POST nodes':
      if (b === 'lose') return void parts.kube.loseNode(a ?? '');
      if (b === 'restore') return void parts.kube.restoreNode(a ?? '');
      break;
    case 'POST volumes':
      if (b === 'state')
        return void parts.aws.setVolumeState(
          a ?? '',
          oneOf(
            text(body, 'state'),
            ['creating', 'available', 'in-use', 'deleting', 'deleted', 'error'] as const,
            'state',
          ) as SimVolumeState,
        );
      if (b === 'attachment')
        return void parts.aws.setAttachmentState(
          a ?? '',
          oneOf(
            text(body, 'state'),
            ['attaching', 'attached', 'detaching', 'detached'] as const,
            'state',
          ) as SimAttachmentState,
        );
      break;
    case 'POST snapshots':
      if (b === 'state')
        return void parts.aws.setSnapshotState(
          a ?? '',
          oneOf(text(body, 'state'), ['pending', 'completed', 'error'] as const, 'state') as SimSnapshotState,
        );
      break;
    case 'POST pods':
      if (a && b && c) return void podAction(parts, { namespace: a, name: b }, c, body);
      break;
    case 'GET pods':
      if (a && b && c === 'files') return podFiles(parts, { namespace: a, name: b }, url);
      break;
    default:
      break;
  }
  throw new ControlError(404, `no control endpoint ${method} ${url.pathname}; GET ${controlPrefix} lists them`);
}

/** A thrown scenario error (unknown pod, volume or node) is the caller's mistake: 404 or 400. */
function statusOfError(err: unknown): { status: number; message: string } {
  if (err instanceof ControlError) return { status: err.status, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown; status?: { code?: number } }).status?.code;
  if (code === 404 || /NotFound|not found|no node named/i.test(`${(err as { code?: string }).code ?? ''} ${message}`))
    return { status: 404, message };
  return { status: 400, message };
}

export function handleControl(
  parts: ControlParts,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer,
): void {
  const url = new URL(req.url ?? '/', 'http://sim');
  const answer = (status: number, payload: unknown) => {
    const text = JSON.stringify(payload ?? { ok: true }, null, 2);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
  };
  if (!isLoopback(req.socket.remoteAddress))
    return answer(403, { error: 'the control API answers loopback clients only' });
  try {
    answer(200, dispatch(parts, (req.method ?? 'GET').toUpperCase(), url, parse(body)));
  } catch (err) {
    const { status, message } = statusOfError(err);
    answer(status, { error: message });
  }
}
