/*
 * What the gateway says about each function (`faas-cli list`/`describe`, the cron-connector's
 * discovery), read from stack.yml as faas-netes would report the deployed function: image,
 * labels, annotations, secrets, limits. `${VAR:-default}` takes its default, as in a fresh shell.
 */
import { parse } from 'yaml';

export interface StackFunction {
  name: string;
  image: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  secrets: string[];
  limits?: { memory?: string; cpu?: string };
  requests?: { memory?: string; cpu?: string };
  readOnlyRootFilesystem: boolean;
}

interface StackEntry {
  image?: string;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  secrets?: string[];
  limits?: { memory?: string; cpu?: string };
  requests?: { memory?: string; cpu?: string };
  readonly_root_filesystem?: boolean;
}

export function functionsFromStack(stackYaml: string): StackFunction[] {
  const stack = parse(stackYaml) as { functions?: Record<string, StackEntry> } | null;
  return Object.entries(stack?.functions ?? {}).map(([name, entry]) => ({
    name,
    image: withDefaults(entry.image ?? name),
    labels: strings(entry.labels),
    annotations: strings(entry.annotations),
    secrets: entry.secrets ?? [],
    ...(entry.limits && { limits: entry.limits }),
    ...(entry.requests && { requests: entry.requests }),
    readOnlyRootFilesystem: entry.readonly_root_filesystem === true,
  }));
}

function withDefaults(value: string): string {
  return value.replace(/\$\{\w+:-([^}]*)\}/g, '$1');
}

function strings(record: Record<string, unknown> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(record ?? {}).map(([key, value]) => [key, String(value)]));
}
