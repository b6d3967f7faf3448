/* warn's entry: every trigger runs the same sweep; warn consumes no events. */
import { baseOptionsSchema, defineFunction } from '../../shared/runtime/invocation.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { warnRun } from './run.js';
import type { WarnDeps } from './run.js';

export const warn = defineFunction<BaseOptions, WarnDeps & { run: RunServices }>({
  name: 'warn',
  optionsSchema: baseOptionsSchema,
  handle: (invocation, deps) => runScoped(deps.run, 'warn', invocation, (scope) => warnRun(scope, deps)),
});
