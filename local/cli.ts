/*
 * devenv-lifecycle <command> [options]; `devenv-lifecycle help [command]` or `<command> --help`.
 * The command table names each command's usage; the code behind a command is loaded only when
 * it runs, so help and bad input answer at once. Failures print one line on stderr and exit
 * non-zero (2 for bad input or configuration).
 */
import { Invalid } from '../shared/errors.js';
import { runCli } from './cli-errors.js';

interface Command {
  usage: string;
  summary: string;
  run(args: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  invoke: {
    usage: 'invoke <fn> [--dry-run] [--max-items N] [--json JSON] [--gateway URL]',
    summary:
      'run a function: through a gateway (as faas-cli invoke does) or, without --gateway, in this process against the configured (or running local) database and cluster',
    run: async (args) => (await import('./cli-commands.js')).invoke(args),
  },
  migrate: {
    usage: 'migrate [--adopt-existing [--assume-time-zone ZONE] [--dry-run]]',
    summary: 'bring the database schema up to date, or adopt an existing origin schema',
    run: async (args) => (await import('./cli-commands.js')).migrate(args),
  },
  runs: {
    usage: 'runs [--fn F] [--limit N]',
    summary: 'recent runs, newest first: trigger (and which scheduler), outcome, non-zero counters',
    run: async (args) => (await import('./cli-commands.js')).runs(args),
  },
  why: {
    usage: 'why <reservation-id | lab-id> [--json]',
    summary:
      'what happened to one reservation or lab and why, oldest first: decisions, warnings, pod checks, teardown, snapshots, OOM kills, runs',
    run: async (args) => (await import('./cli-why.js')).why(args),
  },
  'requeue-events': {
    usage: 'requeue-events (--all | --id N… | --event-id UUID…)',
    summary: 'give dead-lettered events (listed by runs) a fresh set of delivery attempts',
    run: async (args) => (await import('./cli-commands.js')).requeueEvents(args),
  },
  extend: {
    usage: 'extend <reservation-id> --by DURATION [--bypass-capacity]   (DURATION: 2h, 90m, 1h30m)',
    summary:
      "extend a reservation from its current deadline, under the same policy as a warning's link; --bypass-capacity ignores waiting reservations (logged)",
    run: async (args) => (await import('./cli-extend.js')).extendCommand(args),
  },
  breaker: {
    usage:
      'breaker override <fn> --for DURATION --reason "..." [--by NAME] | breaker status [<fn>]   (DURATION: 30m, 1h, at most 24h)',
    summary:
      'let a function act past its blast-radius breaker for a while (recorded, expiring), or list the overrides in force',
    run: async (args) => (await import('./cli-breaker.js')).breaker(args),
  },
  'shadow-report': {
    usage: 'shadow-report [--since 24h] [--fn F] [--tolerance 15m] [--json]',
    summary:
      "functions in shadow mode (SHADOW_FUNCTIONS): their decisions beside what the system still in charge did, every disagreement with both sides' evidence",
    run: async (args) => (await import('./cli-shadow.js')).shadowReport(args),
  },
  preview: {
    usage: 'preview <fn> --set KEY=VALUE… [--json]',
    summary:
      'what a function on the run kernel would do now with changed settings that it does not do with the current ones, and the reverse; changes nothing',
    run: async (args) => (await import('./cli-preview.js')).preview(args),
  },
  'ending-watchdog': {
    usage: 'ending-watchdog [--lab-id ID] [--older-than-minutes N] [--max-labs N] [--action force|fail] [--dry-run]',
    summary: 'the OctoLab watchdog with its own flags, run in this process',
    run: async (args) => (await import('./cli-commands.js')).endingWatchdog(args),
  },
  sim: {
    usage: 'sim <command> [--url URL]   (`sim help` lists the commands)',
    summary:
      'drive the running simulator (npm start, npm run sim): faults, pod and node failures, volume and snapshot states, execs, files, requests, reset',
    run: async (args) => {
      const status = await (
        await import('../sim/control-cli.js')
      ).simCommand(args, (await import('../shared/config.js')).processEnvironment(), process.cwd()); // it printed why
      if (status !== 0) process.exit(status);
    },
  },
};

const ENVIRONMENT = [
  'Database: DATABASE_URL (or POSTGRES_*). Cluster for in-process runs: KUBECONFIG (or KUBE_API_SERVER + KUBE_TOKEN).',
  'Run from a checkout whose local stack is up (npm start), it uses that stack for whichever of the two is not set.',
].join('\n');

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return `usage: devenv-lifecycle <command> [options]\n\ncommands:\n${lines.join('\n')}\n  ${'help'.padEnd(width)}  this text; help <command> for its options\n\n${ENVIRONMENT}\n`;
}

function commandHelp(name: string, command: Command): string {
  return `usage: devenv-lifecycle ${command.usage}\n\n${command.summary}\n`;
}

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

runCli(async () => {
  const [name, ...rest] = process.argv.slice(2);
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = topic === undefined ? undefined : COMMANDS[topic];
    if (topic !== undefined && !command) throw unknown(topic);
    process.stdout.write(command ? commandHelp(topic!, command) : usage());
    if (name === undefined) throw new Invalid('no command given', [{ field: 'command', message: 'missing' }]);
    return;
  }
  const command = COMMANDS[name];
  if (!command) throw unknown(name);
  if (wantsHelp(rest)) return void process.stdout.write(commandHelp(name, command));
  await command.run(rest);
});

function unknown(name: string): Invalid {
  return new Invalid(`unknown command ${name}; one of ${Object.keys(COMMANDS).join(', ')} (devenv-lifecycle help)`, [
    { field: 'command', message: 'unknown' },
  ]);
}
