/*
 * What runs when something execs into a simulated container: an argv, stdin, and the container's
 * in-memory filesystem. `sh -c SCRIPT [NAME ARGS…]` interprets the script (shell-parse.ts) with
 * glob expansion of unquoted words, as a real shell does; programs never expand globs themselves,
 * so `rm -f /home/dev/*.txt` exec'd without a shell removes nothing, exactly as in a container.
 * Unknown programs exit 127 with "command not found" on stderr.
 */
import type { MemoryFilesystem } from './filesystem.js';
import { FsError } from './filesystem.js';
import type { CommandIo } from './shell-commands.js';
import { commands } from './shell-commands.js';
import type { ListItem, SimpleCommand, Word } from './shell-parse.js';
import { ShellSyntaxError, parseScript } from './shell-parse.js';

export interface ShellResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
}

interface Session {
  fs: MemoryFilesystem;
  stdin: Buffer | undefined;
  stdout: Buffer[];
  stderr: string[];
  broadcast(message: string): void;
  /** Set when a command read stdin. */
  stdinRead?: boolean;
}

const shells = new Set(['sh', 'bash', 'dash']);

function program(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

function ioFor(session: Session, out: (data: Buffer | string) => void, err: (text: string) => void): CommandIo {
  return {
    fs: session.fs,
    readStdin: () => {
      session.stdinRead = true;
      const input = session.stdin ?? Buffer.alloc(0);
      session.stdin = undefined;
      return input;
    },
    out,
    err,
    broadcast: session.broadcast,
  };
}

function runProgram(argv: string[], session: Session, io: CommandIo): number {
  const name = program(argv[0]!);
  if (shells.has(name)) return runShell(argv, session);
  const command = commands.get(name);
  if (!command) {
    io.err(`${argv[0]}: command not found\n`);
    return 127;
  }
  return command(argv.slice(1), io);
}

function runShell(argv: string[], session: Session): number {
  const [name, flag, script, ...positional] = argv;
  if (flag !== '-c' || script === undefined) {
    session.stderr.push(`${name}: the simulator only runs "sh -c SCRIPT [NAME ARGS…]"\n`);
    return 2;
  }
  try {
    return runList(parseScript(script), new Parameters(positional), session);
  } catch (err) {
    if (!(err instanceof ShellSyntaxError)) throw err;
    session.stderr.push(`sh: 1: ${err.message}\n`);
    return 2;
  }
}

class Parameters {
  status = 0;
  constructor(private readonly args: string[]) {}

  get(name: string): string {
    if (name === '?') return String(this.status);
    if (name === '#') return String(Math.max(this.args.length - 1, 0));
    if (name === '@') return this.args.slice(1).join(' ');
    return this.args[Number(name)] ?? '';
  }
}

class ExitSignal {
  constructor(readonly code: number) {}
}

function runList(items: ListItem[], params: Parameters, session: Session): number {
  for (const { after, command } of items) {
    if ((after === '&&' && params.status !== 0) || (after === '||' && params.status === 0)) continue;
    try {
      params.status = runSimple(command, params, session);
    } catch (signal) {
      if (signal instanceof ExitSignal) return signal.code;
      throw signal;
    }
  }
  return params.status;
}

/** Expands one word; unquoted glob characters match files, or stay literal when nothing matches. */
function expand(word: Word, params: Parameters, fs: MemoryFilesystem): string[] {
  let text = '';
  let globbing = false;
  for (const segment of word) {
    const value = segment.kind === 'param' ? params.get(segment.name) : segment.text;
    if (segment.kind === 'text' && !segment.quoted && /[*?]/.test(value)) globbing = true;
    text += value;
  }
  if (text === '' && word.every((segment) => !segment.quoted)) return [];
  const matches = globbing ? fs.glob(text) : [];
  return matches.length ? matches : [text];
}

function runSimple(command: SimpleCommand, params: Parameters, session: Session): number {
  const argv = command.words.flatMap((word) => expand(word, params, session.fs));
  const sinks = openRedirects(command, params, session);
  if (!sinks) return 2;
  const io = ioFor(session, sinks.out, sinks.err);
  if (argv.length === 0) return 0;
  if (argv[0] === 'exit') throw new ExitSignal(argv[1] === undefined ? params.status : Number(argv[1]) & 255);
  const status = runProgram(argv, session, io);
  sinks.flush();
  return status;
}

interface Sinks {
  out(data: Buffer | string): void;
  err(text: string): void;
  flush(): void;
}

/** Opens (truncates) redirect targets before the command runs, as sh does; undefined on failure. */
function openRedirects(command: SimpleCommand, params: Parameters, session: Session): Sinks | undefined {
  const captured: Record<1 | 2, { file: string; append: boolean; data: Buffer[] } | undefined> = {
    1: undefined,
    2: undefined,
  };
  for (const redirect of command.redirects) {
    const file = expand(redirect.target, params, session.fs).join(' ');
    try {
      if (file !== '/dev/null') session.fs.write(file, Buffer.alloc(0), redirect.append);
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      session.stderr.push(
        `sh: 1: cannot create ${file}: ${err.message === 'Is a directory' ? 'Is a directory' : 'Directory nonexistent'}\n`,
      );
      return undefined;
    }
    captured[redirect.fd] = { file, append: true, data: [] };
  }
  const sink = (fd: 1 | 2, data: Buffer | string) => {
    const target = captured[fd];
    const bytes = Buffer.from(data);
    if (target) target.data.push(bytes);
    else if (fd === 1) session.stdout.push(bytes);
    else session.stderr.push(bytes.toString('utf8'));
  };
  return {
    out: (data) => sink(1, data),
    err: (text) => sink(2, text),
    flush: () => {
      for (const target of [captured[1], captured[2]]) {
        if (target && target.file !== '/dev/null') session.fs.write(target.file, Buffer.concat(target.data), true);
      }
    },
  };
}

/**
 * Whether the container has `argv[0]`: a shell or one of the simulated commands. A missing binary
 * fails in the runtime before anything runs (runc: "executable file not found in $PATH").
 */
export function hasProgram(argv: readonly string[]): boolean {
  const name = program(argv[0] ?? '');
  return shells.has(name) || commands.has(name);
}

/**
 * Whether running `argv` would read stdin. It runs against a copy of the files with broadcasts
 * dropped, so nothing changes; the commands are deterministic, so the real run does the same.
 */
export function readsStdin(argv: string[], fs: MemoryFilesystem): boolean {
  const session: Session = {
    fs: fs.clone(),
    stdin: Buffer.alloc(0),
    stdout: [],
    stderr: [],
    broadcast: () => undefined,
  };
  if (argv.length > 0)
    runProgram(
      argv,
      session,
      ioFor(
        session,
        () => undefined,
        () => undefined,
      ),
    );
  return session.stdinRead === true;
}

export function runInContainer(
  argv: string[],
  stdin: Buffer | undefined,
  fs: MemoryFilesystem,
  broadcast: (message: string) => void,
): ShellResult {
  const session: Session = { fs, stdin, stdout: [], stderr: [], broadcast };
  const exitCode =
    argv.length === 0
      ? 0
      : runProgram(
          argv,
          session,
          ioFor(
            session,
            (d) => session.stdout.push(Buffer.from(d)),
            (t) => session.stderr.push(t),
          ),
        );
  return { stdout: Buffer.concat(session.stdout), stderr: session.stderr.join(''), exitCode };
}
