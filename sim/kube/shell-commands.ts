/*
 * The commands a simulated container has: rm, cat, tee, ls, wall, echo, true, false. Each behaves
 * like its coreutils namesake for the flags accepted here, including the messages and exit codes
 * on failure, because callers decide success from the exit code and log stderr.
 */
import type { MemoryFilesystem } from './filesystem.js';
import { FsError } from './filesystem.js';

export interface CommandIo {
  fs: MemoryFilesystem;
  /** All of stdin the first time; empty afterwards (the first reader consumes it). */
  readStdin(): Buffer;
  out(data: Buffer | string): void;
  err(text: string): void;
  broadcast(message: string): void;
}

type Command = (args: string[], io: CommandIo) => number;

function reason(err: unknown): string {
  if (err instanceof FsError) return err.message;
  throw err;
}

function splitFlags(args: string[]): { flags: Set<string>; operands: string[] } {
  const flags = new Set<string>();
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-') && args[i] !== '-'; i++) {
    if (args[i] === '--') {
      i++;
      break;
    }
    for (const flag of args[i]!.slice(1)) flags.add(flag);
  }
  return { flags, operands: args.slice(i) };
}

const rm: Command = (args, io) => {
  const { flags, operands } = splitFlags(args);
  const force = flags.has('f');
  if (operands.length === 0 && !force) {
    io.err('rm: missing operand\n');
    return 1;
  }
  let status = 0;
  for (const file of operands) {
    try {
      io.fs.remove(file);
    } catch (err) {
      const why = reason(err);
      if (force && why === 'No such file or directory') continue;
      io.err(`rm: cannot remove '${file}': ${why}\n`);
      status = 1;
    }
  }
  return status;
};

const cat: Command = (args, io) => {
  const { operands } = splitFlags(args);
  let status = 0;
  for (const file of operands.length ? operands : ['-']) {
    try {
      io.out(file === '-' ? io.readStdin() : io.fs.read(file));
    } catch (err) {
      io.err(`cat: ${file}: ${reason(err)}\n`);
      status = 1;
    }
  }
  return status;
};

const tee: Command = (args, io) => {
  const { flags, operands } = splitFlags(args);
  const input = io.readStdin();
  let status = 0;
  for (const file of operands) {
    try {
      io.fs.write(file, input, flags.has('a'));
    } catch (err) {
      io.err(`tee: ${file}: ${reason(err)}\n`);
      status = 1;
    }
  }
  io.out(input);
  return status;
};

const ls: Command = (args, io) => {
  const { operands } = splitFlags(args);
  let status = 0;
  for (const target of operands.length ? operands : ['.']) {
    if (!io.fs.exists(target)) {
      io.err(`ls: cannot access '${target}': No such file or directory\n`);
      status = 2;
      continue;
    }
    const names = io.fs.isDirectory(target) ? io.fs.list(target).filter((name) => !name.startsWith('.')) : [target];
    if (operands.length > 1) io.out(`${target}:\n`);
    io.out(names.map((name) => `${name}\n`).join(''));
  }
  return status;
};

const wall: Command = (args, io) => {
  const message = args.length ? `${args.join(' ')}\n` : io.readStdin().toString('utf8');
  io.broadcast(message);
  return 0;
};

const echo: Command = (args, io) => {
  const newline = args[0] !== '-n';
  io.out(`${(newline ? args : args.slice(1)).join(' ')}${newline ? '\n' : ''}`);
  return 0;
};

export const commands: ReadonlyMap<string, Command> = new Map<string, Command>([
  ['rm', rm],
  ['cat', cat],
  ['tee', tee],
  ['ls', ls],
  ['wall', wall],
  ['echo', echo],
  ['true', () => 0],
  ['false', () => 1],
]);
