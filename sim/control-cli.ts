/*
 * `devenv-lifecycle sim <command>` (also `npm run sim -- <command>`): the control API of a running
 * simulator (sim/control.ts) from a shell. It finds the simulator through --url, DEVENV_SIM_URL, or
 * the kubeconfig `npm start` and `npm run sim` write to .data/sim-kubeconfig. Answers print as JSON.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

export const simUsage = `usage: devenv-lifecycle sim <command> [--url URL]
  state                                   pods, nodes, volumes, snapshots, active faults
  fault add (--path P | --path-regex RE) [--method M] (--status N [--aws-error CODE] [--retry-after S] | --reset | --drop-watch | --delay-ms N)
            [--for-seconds S] [--count N] [--probability P] [--label L]
  fault list | fault clear [--label L]
  aws-fault add --service ec2|lambda [--action A] [--times N] --kind throttle|error|reset|lose-response|delay [--code C] [--status N] [--delay-ms N]
  aws-fault clear
  pod oom-kill NS/NAME [--container C] | pod evict NS/NAME | pod fail NS/NAME --reason R [--message M]
  pod phase NS/NAME PHASE | pod delete-behind-our-back NS/NAME | pod files NS/NAME [--dir D] [--container C]
  node lose NAME | node restore NAME
  volume state VOL-ID STATE | volume attachment VOL-ID STATE | snapshot state SNAP-ID STATE
  execs [--pod NS/NAME] | broadcasts | requests [--limit N] | aws-calls [--limit N]
  reset                                   clear all faults, restore lost nodes, empty the logs`;

class UsageError extends Error {}

const options = {
  url: { type: 'string' },
  path: { type: 'string' },
  'path-regex': { type: 'string' },
  method: { type: 'string' },
  status: { type: 'string' },
  'aws-error': { type: 'string' },
  'retry-after': { type: 'string' },
  reset: { type: 'boolean' },
  'drop-watch': { type: 'boolean' },
  'delay-ms': { type: 'string' },
  'for-seconds': { type: 'string' },
  count: { type: 'string' },
  probability: { type: 'string' },
  label: { type: 'string' },
  service: { type: 'string' },
  action: { type: 'string' },
  times: { type: 'string' },
  kind: { type: 'string' },
  code: { type: 'string' },
  container: { type: 'string' },
  reason: { type: 'string' },
  message: { type: 'string' },
  dir: { type: 'string' },
  pod: { type: 'string' },
  limit: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

/** The simulator's URL: --url, DEVENV_SIM_URL, or the `server:` of .data/sim-kubeconfig. */
export function simUrl(flag: string | undefined, env: Record<string, string | undefined>, cwd: string): string {
  const explicit = flag ?? env.DEVENV_SIM_URL;
  if (explicit) return explicit.replace(/\/+$/, '');
  const kubeconfig = path.join(cwd, '.data', 'sim-kubeconfig');
  let text: string;
  try {
    text = readFileSync(kubeconfig, 'utf8');
  } catch {
    throw new UsageError(
      `no simulator found: ${kubeconfig} does not exist (start one with npm start or npm run sim, or pass --url)`,
    );
  }
  const server = /server:\s*(\S+)/.exec(text)?.[1];
  if (!server) throw new UsageError(`${kubeconfig} names no server`);
  return server.replace(/\/+$/, '');
}

const num = (value: string | undefined, flag: string): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, got "${value}"`);
  return n;
};

function podPath(ref: string | undefined): string {
  const match = /^([^/]+)\/([^/]+)$/.exec(ref ?? '');
  if (!match) throw new UsageError(`name the pod as NAMESPACE/NAME, got "${ref ?? ''}"`);
  return `pods/${encodeURIComponent(match[1]!)}/${encodeURIComponent(match[2]!)}`;
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`);
  return value;
}

interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: object;
}

function faultAdd(v: Values): Call {
  const body = {
    ...(v.path !== undefined && { path: v.path }),
    ...(v['path-regex'] !== undefined && { pathRegex: v['path-regex'] }),
    ...(v.method !== undefined && { method: v.method }),
    ...(v['aws-error'] !== undefined && { awsErrorCode: v['aws-error'] }),
    ...(v.reset && { reset: true }),
    ...(v['drop-watch'] && { dropWatch: true }),
    ...(v.label !== undefined && { label: v.label }),
    status: num(v.status, 'status'),
    retryAfterSeconds: num(v['retry-after'], 'retry-after'),
    delayMs: num(v['delay-ms'], 'delay-ms'),
    forSeconds: num(v['for-seconds'], 'for-seconds'),
    count: num(v.count, 'count'),
    probability: num(v.probability, 'probability'),
  };
  if (v.path === undefined && v['path-regex'] === undefined)
    throw new UsageError('fault add needs --path or --path-regex');
  return { method: 'POST', path: 'faults', body };
}

function awsFaultAdd(v: Values): Call {
  const kind = need(v.kind, '--kind');
  const fault = {
    kind,
    ...(v.code !== undefined && { code: v.code }),
    status: num(v.status, 'status'),
    delayMs: num(v['delay-ms'], 'delay-ms'),
  };
  return {
    method: 'POST',
    path: 'aws-faults',
    body: {
      service: need(v.service, '--service'),
      ...(v.action !== undefined && { action: v.action }),
      times: num(v.times, 'times'),
      fault,
    },
  };
}

function podCall(v: Values, action: string | undefined, ref: string | undefined, extra: string | undefined): Call {
  const base = podPath(ref);
  switch (action) {
    case 'oom-kill':
      return { method: 'POST', path: `${base}/oom-kill`, body: { container: v.container } };
    case 'evict':
      return { method: 'POST', path: `${base}/evict` };
    case 'fail':
      return { method: 'POST', path: `${base}/fail`, body: { reason: need(v.reason, '--reason'), message: v.message } };
    case 'phase':
      return { method: 'POST', path: `${base}/phase`, body: { phase: need(extra, 'PHASE') } };
    case 'delete-behind-our-back':
      return { method: 'POST', path: `${base}/delete-behind-our-back` };
    case 'files': {
      const query = new URLSearchParams({
        dir: v.dir ?? '/home/dev',
        ...(v.container !== undefined && { container: v.container }),
      });
      return { method: 'GET', path: `${base}/files?${query.toString()}` };
    }
    default:
      throw new UsageError(`unknown pod action "${action ?? ''}"`);
  }
}

/** The control call a command line asks for. */
export function callFor(positionals: string[], v: Values): Call {
  const [command, sub, x, y] = positionals;
  const limit = v.limit !== undefined ? `?limit=${num(v.limit, 'limit')}` : '';
  switch (command) {
    case 'state':
      return { method: 'GET', path: 'state' };
    case 'fault':
      if (sub === 'add') return faultAdd(v);
      if (sub === 'list') return { method: 'GET', path: 'faults' };
      if (sub === 'clear')
        return {
          method: 'DELETE',
          path: `faults${v.label !== undefined ? `?label=${encodeURIComponent(v.label)}` : ''}`,
        };
      break;
    case 'aws-fault':
      if (sub === 'add') return awsFaultAdd(v);
      if (sub === 'clear') return { method: 'DELETE', path: 'aws-faults' };
      break;
    case 'pod':
      return podCall(v, sub, x, y);
    case 'node':
      if (sub === 'lose' || sub === 'restore')
        return { method: 'POST', path: `nodes/${encodeURIComponent(need(x, 'NODE'))}/${sub}` };
      break;
    case 'volume':
      if (sub === 'state' || sub === 'attachment')
        return { method: 'POST', path: `volumes/${need(x, 'VOL-ID')}/${sub}`, body: { state: need(y, 'STATE') } };
      break;
    case 'snapshot':
      if (sub === 'state')
        return { method: 'POST', path: `snapshots/${need(x, 'SNAP-ID')}/state`, body: { state: need(y, 'STATE') } };
      break;
    case 'execs': {
      if (v.pod === undefined) return { method: 'GET', path: 'execs' };
      const [namespace, pod] = podPath(v.pod).split('/').slice(1);
      return { method: 'GET', path: `execs?namespace=${namespace}&pod=${pod}` };
    }
    case 'broadcasts':
      return { method: 'GET', path: 'broadcasts' };
    case 'requests':
      return { method: 'GET', path: `requests${limit}` };
    case 'aws-calls':
      return { method: 'GET', path: `aws-calls${limit}` };
    case 'reset':
      return { method: 'POST', path: 'reset' };
    default:
      break;
  }
  throw new UsageError(`unknown command "${positionals.join(' ')}"`);
}

/** Runs one control command; returns the exit status (0 done, 1 refused by the simulator, 2 bad input). */
export async function simCommand(
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<number> {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    if (positionals.length === 0 || positionals[0] === 'help') {
      process.stdout.write(`${simUsage}\n`);
      return positionals.length === 0 ? 2 : 0;
    }
    const call = callFor(positionals, values);
    const base = simUrl(values.url, env, cwd);
    const res = await fetch(`${base}/_sim/${call.path}`, {
      method: call.method,
      ...(call.body && { body: JSON.stringify(call.body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(10_000),
    }).catch((err: unknown) => {
      throw new UsageError(
        `the simulator at ${base} does not answer (${err instanceof Error ? err.message : String(err)}); is npm start running?`,
      );
    });
    const text = await res.text();
    (res.ok ? process.stdout : process.stderr).write(`${text}\n`);
    return res.ok ? 0 : 1;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`sim: ${message}\n`);
    return err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}
