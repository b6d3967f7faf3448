/*
 * `npm run bench [-- --quick]`: run the benchmarks and write BENCHMARKS.md. Not part of npm test:
 * performance targets are measured here, never asserted on timings inside the test suite.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchDatabase } from './database.js';
import { machine } from './stats.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const rounds = values.quick ? 3 : 7;
const command = values.quick ? 'npm run bench -- --quick' : 'npm run bench';

const database = await benchDatabase(rounds);
const report = [
  '# Benchmarks',
  '',
  `Machine: ${machine()}.`,
  `Command: \`${command}\`. Figures are medians over the runs shown.`,
  '',
  '## Database foundation',
  '',
  ...database,
  '',
].join('\n');
writeFileSync('BENCHMARKS.md', report);
process.stdout.write(report);
