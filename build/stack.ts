/*
 * stack.yml as data, for the generators and the tests: the functions with their environment
 * (the shared environment_file merged under each function's own), secrets, resources, labels
 * and annotations. faas-cli substitutes ${VAR:-default}; here the defaults are taken.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface StackFunction {
  name: string;
  lang: string;
  handler: string;
  image: string;
  /** Everything the function gets: the shared environment_file, then its own. */
  environment: Record<string, string>;
  /** Only what stack.yml sets for this function. */
  ownEnvironment: Record<string, string>;
  secrets: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  requests: Record<string, string>;
  limits: Record<string, string>;
  readonlyRootFilesystem: boolean;
}

export interface Stack {
  functions: StackFunction[];
}

interface RawFunction {
  lang: string;
  handler: string;
  image: string;
  environment?: Record<string, string | number | boolean>;
  environment_file?: string[];
  secrets?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  requests?: Record<string, string>;
  limits?: Record<string, string>;
  readonly_root_filesystem?: boolean;
}

/** `${REGISTRY:-ghcr.io/x}` -> `ghcr.io/x`, as faas-cli's envsubst does with nothing set. */
function withDefaults(text: string): string {
  return text.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
}

const asStrings = (values: Record<string, string | number | boolean> = {}) =>
  Object.fromEntries(Object.entries(values).map(([key, value]) => [key, String(value)]));

export function readStack(root: string): Stack {
  const raw = parse(readFileSync(join(root, 'stack.yml'), 'utf8')) as { functions: Record<string, RawFunction> };
  const functions = Object.entries(raw.functions).map(([name, fn]): StackFunction => {
    const shared = (fn.environment_file ?? []).map(
      (file) => (parse(readFileSync(join(root, file), 'utf8')) as { environment: Record<string, string> }).environment,
    );
    const own = asStrings(fn.environment);
    return {
      name,
      lang: fn.lang,
      handler: fn.handler,
      image: withDefaults(fn.image),
      environment: Object.assign({}, ...shared.map(asStrings), own) as Record<string, string>,
      ownEnvironment: own,
      secrets: fn.secrets ?? [],
      labels: fn.labels ?? {},
      annotations: fn.annotations ?? {},
      requests: fn.requests ?? {},
      limits: fn.limits ?? {},
      readonlyRootFilesystem: fn.readonly_root_filesystem === true,
    };
  });
  return { functions };
}

const SHARED_ENVIRONMENT_FILE = 'k8s/openfaas/function-env.yml';

/** The settings every function shares (stack.yml's environment_file). */
export function readSharedEnvironment(root: string): Record<string, string> {
  return asStrings(
    (parse(readFileSync(join(root, SHARED_ENVIRONMENT_FILE), 'utf8')) as { environment: Record<string, string> })
      .environment,
  );
}

/** A Go duration or bare seconds (of-watchdog's rule) in seconds: `4m5s` -> 245. */
export function durationSeconds(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw new Error(`not a duration: ${value}`);
  const unit = { h: 3600, m: 60, s: 1, ms: 0.001 } as const;
  return parts.reduce((sum, [, amount, u]) => sum + Number(amount) * unit[u as keyof typeof unit], 0);
}
