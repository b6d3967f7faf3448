/*
 * `npm run bench [-- --quick] [-- --only <id>]`: run the benchmarks and write BENCHMARKS.md. Not
 * part of npm test: performance targets are measured here, never asserted on timings inside the
 * test suite. With --only, the other sections already in BENCHMARKS.md are kept as they are.
 * BENCHMARKS.md is rewritten as each section finishes; a section that throws is reported in its
 * place (with its previous figures, marked as such) and the others go on.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { sections } from './sections.js';
import { machine } from './stats.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const quick = values.quick ?? false;
const context = { quick, rounds: quick ? 3 : 7 };
const chosen = values.only ? sections.filter((section) => section.id === values.only) : sections;
if (chosen.length === 0) {
  process.stderr.write(
    `bench: no section "${values.only}"; known: ${sections.map((section) => section.id).join(', ')}\n`,
  );
  process.exit(2);
}

const previous = existsSync('BENCHMARKS.md') ? readFileSync('BENCHMARKS.md', 'utf8') : '';
const bodies = new Map<string, string>();
for (const section of sections) {
  const kept = sectionBody(previous, section.id);
  if (kept !== undefined) bodies.set(section.id, kept);
}
let failed = 0;
for (const section of chosen) {
  const started = Date.now();
  const loadBefore = os.loadavg()[0]!;
  const command = `npm run bench --${quick ? ' --quick' : ''} --only ${section.id}`;
  const when = () =>
    `${new Date().toISOString().slice(0, 10)} with \`${command}\` (or the whole \`npm run bench${quick ? ' -- --quick' : ''}\`) in ${((Date.now() - started) / 1000).toFixed(1)} s`;
  try {
    const lines = await section.run(context);
    bodies.set(section.id, [...lines, '', `Measured ${when()}. ${loadNote(loadBefore)}`].join('\n'));
    process.stderr.write(`bench: ${section.id} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } catch (err) {
    // One section's failure is reported in its place; the others' figures stay.
    failed += 1;
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    const kept = bodies.get(section.id)?.startsWith('**This section failed**') ? undefined : bodies.get(section.id);
    bodies.set(
      section.id,
      [
        `**This section failed** on ${when()} (${loadNote(loadBefore)}):`,
        '',
        '```',
        error.slice(0, 2000),
        '```',
        ...(kept === undefined
          ? []
          : ['', 'The figures below are from its previous run, kept as they were:', '', kept]),
      ].join('\n'),
    );
    process.stderr.write(`bench: ${section.id} FAILED: ${error}\n`);
  }
  // Written after every section, so an interrupted or failing run keeps what finished; sections
  // this run does not measure are taken from the file as it is now.
  refreshOthers();
  writeFileSync('BENCHMARKS.md', report());
}
process.stdout.write(report());
if (failed > 0) process.exitCode = 1;

function report(): string {
  return [
    '# Benchmarks',
    '',
    `Machine: ${machine()}.`,
    'Figures are medians over the runs shown unless a section says otherwise; ratios compare measures taken in the same run.',
    "Sections measured since load was recorded give the machine's load while they ran: a figure taken under load is slower than the code is.",
    'Regenerate with `npm run bench` (full) or `npm run bench -- --quick` (under two minutes).',
    '',
    ...sections.flatMap((section) => {
      const body = bodies.get(section.id);
      return body === undefined
        ? []
        : [`## ${section.title}`, `<!-- section:${section.id} -->`, '', body, `<!-- end:${section.id} -->`, ''];
    }),
  ].join('\n');
}

/** The machine's load around a section: the other work competing for its cores. */
function loadNote(before: number): string {
  const cores = os.cpus().length;
  const after = os.loadavg()[0]!;
  const loaded = Math.max(before, after) > cores * 0.75;
  return `1-minute load average ${before.toFixed(1)} before, ${after.toFixed(1)} after, on ${cores} cores${loaded ? ': taken under load' : ''}.`;
}

function refreshOthers(): void {
  const current = existsSync('BENCHMARKS.md') ? readFileSync('BENCHMARKS.md', 'utf8') : '';
  for (const section of sections) {
    const kept = chosen.includes(section) ? undefined : sectionBody(current, section.id);
    if (kept !== undefined) bodies.set(section.id, kept);
  }
}

/** The text of one section as the previous BENCHMARKS.md had it, between its markers. */
function sectionBody(text: string, id: string): string | undefined {
  const start = text.indexOf(`<!-- section:${id} -->`);
  const end = text.indexOf(`<!-- end:${id} -->`);
  if (start < 0 || end < start) return undefined;
  return text.slice(start + `<!-- section:${id} -->`.length, end).trim();
}
