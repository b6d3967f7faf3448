/*
 * The commands a simulated container runs: the scripts the functions exec, quoting and globbing as
 * sh does them, redirections, exit statuses, and refusals of what is not implemented.
 */
import { describe, expect, it } from 'vitest';
import { MemoryFilesystem } from '../../sim/kube/filesystem.js';
import { runInContainer } from '../../sim/kube/shell.js';

function container(files: Record<string, string> = {}) {
  const fs = new MemoryFilesystem(['/home/dev', '/tmp']);
  for (const [file, content] of Object.entries(files)) fs.write(file, Buffer.from(content));
  const broadcasts: string[] = [];
  const run = (argv: string[], stdin?: string) => {
    const result = runInContainer(argv, stdin === undefined ? undefined : Buffer.from(stdin), fs, (m) =>
      broadcasts.push(m),
    );
    return { stdout: result.stdout.toString('utf8'), stderr: result.stderr, exitCode: result.exitCode };
  };
  return { fs, run, broadcasts, ls: (dir: string) => fs.list(dir) };
}

describe('the scripts the functions exec', () => {
  it('replaces warning files: rm by glob, then write stdin to the file named by $1', () => {
    const c = container({
      '/home/dev/WARN_EXPIRES_IN_30MIN.txt': 'old',
      '/home/dev/WARN_EXPIRES_IN_15MIN.txt': 'old',
      '/home/dev/keep.txt': 'k',
    });
    const result = c.run(
      [
        'sh',
        '-c',
        'rm -f /home/dev/WARN_EXPIRES_IN_*MIN.txt && cat > "$1"',
        'sh',
        '/home/dev/WARN_EXPIRES_IN_5MIN.txt',
      ],
      'five minutes left\n',
    );
    expect(result).toEqual({ stdout: '', stderr: '', exitCode: 0 });
    expect(c.ls('/home/dev')).toEqual(['WARN_EXPIRES_IN_5MIN.txt', 'keep.txt']);
    expect(c.fs.read('/home/dev/WARN_EXPIRES_IN_5MIN.txt').toString()).toBe('five minutes left\n');
  });

  it('writes the OOM notice with the plain form', () => {
    const c = container();
    expect(c.run(['sh', '-c', 'cat > "$1"', 'sh', '/home/dev/OOM_DETECTED.txt'], 'OOM in gpu-dev').exitCode).toBe(0);
    expect(c.fs.read('/home/dev/OOM_DETECTED.txt').toString()).toBe('OOM in gpu-dev');
  });

  it('keeps a file name with spaces and shell characters whole when quoted', () => {
    const c = container();
    c.run(['sh', '-c', 'cat > "$1"', 'sh', '/tmp/a b;$(reboot)'], 'x');
    expect(c.ls('/tmp')).toEqual(['a b;$(reboot)']);
  });

  it('broadcasts stdin with wall', () => {
    const c = container();
    expect(c.run(['wall'], 'going down\n').exitCode).toBe(0);
    expect(c.run(['wall', 'a', 'b']).exitCode).toBe(0);
    expect(c.broadcasts).toEqual(['going down\n', 'a b\n']);
  });
});

describe('shell behaviour', () => {
  it('expands globs only when unquoted and leaves an unmatched pattern literal', () => {
    const c = container({ '/tmp/a.txt': '', '/tmp/b.txt': '', '/tmp/.hidden.txt': '' });
    expect(c.run(['sh', '-c', 'echo /tmp/*.txt']).stdout).toBe('/tmp/a.txt /tmp/b.txt\n');
    expect(c.run(['sh', '-c', 'echo "/tmp/*.txt"']).stdout).toBe('/tmp/*.txt\n');
    expect(c.run(['sh', '-c', 'echo /tmp/*.log']).stdout).toBe('/tmp/*.log\n');
  });

  it('does not expand globs without a shell, as a program never does', () => {
    const c = container({ '/tmp/a.txt': '' });
    expect(c.run(['rm', '-f', '/tmp/*.txt']).exitCode).toBe(0);
    expect(c.ls('/tmp')).toEqual(['a.txt']);
  });

  it('runs && and || by status, ; always, and stops at exit', () => {
    const c = container();
    expect(c.run(['sh', '-c', 'false && echo no; echo yes || echo no']).stdout).toBe('yes\n');
    expect(c.run(['sh', '-c', 'cat /missing || echo recovered']).stdout).toBe('recovered\n');
    expect(c.run(['sh', '-c', 'echo one\nexit 7\necho two'])).toMatchObject({ stdout: 'one\n', exitCode: 7 });
    expect(c.run(['sh', '-c', 'false; exit']).exitCode).toBe(1);
    expect(c.run(['sh', '-c', 'exit 300']).exitCode).toBe(44);
  });

  it('handles single quotes, escapes, comments and $@, $#, $?', () => {
    const c = container();
    expect(c.run(['sh', '-c', 'echo \'a  "b"\' \\$x "$#:$@" # ignored', 'sh', 'p1', 'p2']).stdout).toBe(
      'a  "b" $x 2:p1 p2\n',
    );
    expect(c.run(['sh', '-c', 'false; echo $?']).stdout).toBe('1\n');
  });

  it('redirects stdout and stderr, appends with >>, and drops /dev/null', () => {
    const c = container();
    c.run(['sh', '-c', 'echo a > /tmp/f; echo b >> /tmp/f; cat /nope 2>/tmp/err; echo c > /dev/null']);
    expect(c.fs.read('/tmp/f').toString()).toBe('a\nb\n');
    expect(c.fs.read('/tmp/err').toString()).toBe('cat: /nope: No such file or directory\n');
  });

  it('fails a redirect into a missing directory before running the command', () => {
    const c = container();
    expect(c.run(['sh', '-c', 'cat > /nowhere/f'], 'x')).toMatchObject({
      exitCode: 2,
      stderr: 'sh: 1: cannot create /nowhere/f: Directory nonexistent\n',
    });
  });

  it('refuses syntax it does not implement with status 2', () => {
    const c = container();
    for (const script of ['echo a | cat', 'echo $(id)', 'echo $HOME', 'sleep 1 &', 'cat < /tmp/x', 'echo "open']) {
      expect(c.run(['sh', '-c', script]).exitCode).toBe(2);
    }
    expect(c.run(['sh', 'script.sh']).exitCode).toBe(2);
  });
});

describe('commands', () => {
  it('cat reports a missing file with exit 1, and reads stdin once', () => {
    const c = container();
    expect(c.run(['cat', '/home/dev/none'])).toEqual({
      stdout: '',
      stderr: 'cat: /home/dev/none: No such file or directory\n',
      exitCode: 1,
    });
    expect(c.run(['sh', '-c', 'cat; cat'], 'once').stdout).toBe('once');
  });

  it('rm without -f fails on a missing file; with -f it does not', () => {
    const c = container();
    expect(c.run(['rm', '/tmp/x'])).toMatchObject({
      exitCode: 1,
      stderr: "rm: cannot remove '/tmp/x': No such file or directory\n",
    });
    expect(c.run(['rm', '-f', '/tmp/x']).exitCode).toBe(0);
    expect(c.run(['rm', '-f', '/tmp']).exitCode).toBe(1);
  });

  it('ls lists a directory, or fails with exit 2', () => {
    const c = container({ '/home/dev/b': '', '/home/dev/a': '' });
    expect(c.run(['ls', '/home/dev']).stdout).toBe('a\nb\n');
    expect(c.run(['ls', '/nope'])).toMatchObject({
      exitCode: 2,
      stderr: "ls: cannot access '/nope': No such file or directory\n",
    });
  });

  it('tee writes stdin to the file and to stdout', () => {
    const c = container();
    expect(c.run(['tee', '/tmp/t'], 'hi').stdout).toBe('hi');
    expect(c.fs.read('/tmp/t').toString()).toBe('hi');
  });

  it('an unknown program exits 127, also by path and inside sh', () => {
    const c = container();
    expect(c.run(['/usr/bin/notify-send'])).toMatchObject({
      exitCode: 127,
      stderr: '/usr/bin/notify-send: command not found\n',
    });
    expect(c.run(['sh', '-c', 'frobnicate && echo no'])).toMatchObject({ exitCode: 127, stdout: '' });
    expect(c.run(['/bin/true']).exitCode).toBe(0);
  });
});
