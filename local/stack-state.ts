/*
 * The running local stack leaves its coordinates in .data/local-stack.json (database URL, the
 * simulated cluster's kubeconfig and cloud endpoint, the gateway), so the CLI run from the checkout
 * finds it with no variables set. The file names the stack's pid; a stale file (the stack was
 * killed) is ignored.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR } from './database.js';

export interface StackState {
  pid: number;
  gateway: string;
  /** Variables the CLI adopts when it has none of its own for the database or the cluster. */
  env: Record<string, string>;
}

export const STATE_FILE = join(DATA_DIR, 'local-stack.json');

export function writeStackState(state: StackState, file = STATE_FILE): void {
  mkdirSync(DATA_DIR, { recursive: true });
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export function removeStackState(pid: number, file = STATE_FILE): void {
  if (readStackState(file)?.pid === pid) rmSync(file, { force: true });
}

export function readStackState(file = STATE_FILE): StackState | undefined {
  let state: StackState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as StackState;
  } catch {
    return undefined;
  }
  return isAlive(state.pid) ? state : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const DATABASE_VARIABLES = ['DATABASE_URL', 'POSTGRES_PASSWORD', 'POSTGRES_HOST'];
const CLUSTER_VARIABLES = ['KUBECONFIG', 'KUBE_API_SERVER', 'KUBERNETES_SERVICE_HOST'];

/**
 * The environment the CLI runs with: its own, plus the running stack's database when it names
 * none, and the stack's cluster (and simulated cloud) when it names no cluster.
 */
export function withLocalStack(
  env: Record<string, string | undefined>,
  state: StackState | undefined,
): Record<string, string | undefined> {
  if (!state) return env;
  const adopt = (names: string[], own: string[]) =>
    own.some((name) => env[name] !== undefined)
      ? {}
      : Object.fromEntries(Object.entries(state.env).filter(([name]) => names.includes(name)));
  return {
    ...adopt(['DATABASE_URL'], DATABASE_VARIABLES),
    ...adopt(CLUSTER_ENV, CLUSTER_VARIABLES),
    ...env,
  };
}

/** What a simulated cluster hands the functions besides the kubeconfig: the simulated EC2 and Lambda. */
export const CLUSTER_ENV = [
  'KUBECONFIG',
  'AWS_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AVAILABILITY_UPDATER_FUNCTION_NAME',
];
