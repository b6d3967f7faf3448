/*
 * `npm run bench [-- --quick] [-- --only <id>]`: run the benchmarks and write BENCHMARKS.md. Not
 * part of npm test: performance targets are measured here, never asserted on timings inside the
 * test suite. With --only, the other sections already in BENCHMARKS.md are kept as they are.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sections } from './sections.js';
import { machine } from './stats.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const quick = values.quick ?? false;
const context = { quick, rounds: quick ? 3 : 7 };
const chosen = values.only ? sections.filter((section) => section.id === values.only) : sections;
if (chosen.length === 0) {
  process.stderr.write(`bench: no section "${values.only}"; known: ${sections.map((section) => section.id).join(', ')}\n`);
  process.exit(2);
}

const previous = existsSync('BENCHMARKS.md') ? readFileSync('BENCHMARKS.md', 'utf8') : '';
const bodies = new Map<string, string>();
for (const section of sections) {
  const kept = sectionBody(previous, section.id);
  if (kept !== undefined) bodies.set(section.id, kept);
}
for (const section of chosen) {
  const started = Date.now();
  const lines = await section.run(context);
  const command = `npm run bench --${quick ? ' --quick' : ''} --only ${section.id}`;
  bodies.set(section.id, [...lines, '', `Measured ${new Date().toISOString().slice(0, 10)} with \`${command}\` (or the whole \`npm run bench${quick ? ' -- --quick' : ''}\`) in ${((Date.now() - started) / 1000).toFixed(1)} s.`].join('\n'));
  process.stderr.write(`bench: ${section.id} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

const report = [
  '# Benchmarks',
  '',
  `Machine: ${machine()}.`,
  'Figures are medians over the runs shown; ratios compare measures taken in the same run.',
  'Regenerate with `npm run bench` (full) or `npm run bench -- --quick` (under two minutes).',
  '',
  ...sections.flatMap((section) => {
    const body = bodies.get(section.id);
    return body === undefined ? [] : [`## ${section.title}`, `<!-- section:${section.id} -->`, '', body, `<!-- end:${section.id} -->`, ''];
  }),
].join('\n');
writeFileSync('BENCHMARKS.md', report);
process.stdout.write(report);

/** The text of one section as the previous BENCHMARKS.md had it, between its markers. */
function sectionBody(text: string, id: string): string | undefined {
  const start = text.indexOf(`<!-- section:${id} -->`);
  const end = text.indexOf(`<!-- end:${id} -->`);
  if (start < 0 || end < start) return undefined;
  return text.slice(start + `<!-- section:${id} -->`.length, end).trim();
}
