/*
 * The functions' names, in one module that imports nothing, so that events/, runtime/ and config
 * can all name a function without importing each other.
 */
export const FUNCTION_NAMES = [
  'warn',
  'expire',
  'cleanup-pod',
  'snapshot-sync',
  'oom-scan',
  'ending-watchdog',
  'extend',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];
