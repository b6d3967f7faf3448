/*
 * Secret files as OpenFaaS and Knative mount them: one file per setting under a directory, named
 * after the setting in lower case with dashes (POSTGRES_PASSWORD -> postgres-password).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export function secretFileName(variable: string): string {
  return variable.toLowerCase().replaceAll('_', '-');
}

/** Values of the known settings that have a secret file; a missing directory means no secrets. */
export function readSecretFiles(directory: string, knownVariables: string[]): Record<string, string> {
  const present = listDirectory(directory);
  const values: Record<string, string> = {};
  for (const variable of knownVariables) {
    const fileName = secretFileName(variable);
    if (!present.has(fileName)) continue;
    // Secrets are often written with a trailing newline (echo, kubectl create secret --from-file).
    values[variable] = readFileSync(join(directory, fileName), 'utf8').replace(/\r?\n$/, '');
  }
  return values;
}

function listDirectory(directory: string): Set<string> {
  try {
    return new Set(readdirSync(directory));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw err;
  }
}
