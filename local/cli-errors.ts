import { Invalid } from '../shared/errors.js';

/**
 * Run a command-line entry: any failure becomes one readable line on stderr and a non-zero exit
 * (2 for bad input or configuration, 1 for everything else).
 */
export function runCli(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`error: ${message.split('\n')[0]}\n`);
      process.exit(err instanceof Invalid ? 2 : 1);
    },
  );
}
