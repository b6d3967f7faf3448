import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStackState, withLocalStack } from '../../local/stack-state.js';

const state = {
  pid: process.pid,
  gateway: 'http://127.0.0.1:8080',
  env: {
    DATABASE_URL: 'postgres://stack/db',
    KUBECONFIG: '/checkout/.data/sim-kubeconfig',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  },
};

describe('the CLI adopting a running local stack', () => {
  it('takes the stack database and cluster when the environment names neither', () => {
    expect(withLocalStack({ LOG_LEVEL: 'info' }, state)).toEqual({ LOG_LEVEL: 'info', ...state.env });
  });

  it('never mixes: a database or cluster of your own keeps the stack one out', () => {
    expect(withLocalStack({ POSTGRES_PASSWORD: 'x' }, state)).toEqual({
      POSTGRES_PASSWORD: 'x',
      KUBECONFIG: state.env.KUBECONFIG,
      AWS_ENDPOINT_URL: state.env.AWS_ENDPOINT_URL,
    });
    expect(withLocalStack({ KUBE_API_SERVER: 'https://10.0.0.1:6443' }, state)).toEqual({
      KUBE_API_SERVER: 'https://10.0.0.1:6443',
      DATABASE_URL: state.env.DATABASE_URL,
    });
  });

  it('without a running stack, the environment is unchanged', () => {
    expect(withLocalStack({ A: '1' }, undefined)).toEqual({ A: '1' });
  });

  it('reads a state file only while its process lives', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stack-state-'));
    const file = join(dir, 'local-stack.json');
    writeFileSync(file, JSON.stringify(state));
    expect(readStackState(file)).toEqual(state);
    writeFileSync(file, JSON.stringify({ ...state, pid: 2 ** 22 + 7 }));
    expect(readStackState(file)).toBeUndefined();
    expect(readStackState(join(dir, 'missing.json'))).toBeUndefined();
  });
});
