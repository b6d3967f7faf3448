/*
 * Parsing the `sh -c` scripts the simulator runs: words with single and double quotes, backslash
 * escapes, positional parameters (`$1`, `${1}`, `$@`, `$#`, `$?`), `&&`, `||`, `;`, newlines and
 * the redirections `>`, `>>`, `2>`, `2>>`. Pipes, input redirection, background jobs, command
 * substitution and variables other than the positional ones are refused with a syntax error, so a
 * script that needs them fails loudly instead of being half-understood.
 */
export class ShellSyntaxError extends Error {}

type Segment = { kind: 'text'; text: string; quoted: boolean } | { kind: 'param'; name: string; quoted: boolean };
export type Word = Segment[];

interface Redirect {
  fd: 1 | 2;
  append: boolean;
  target: Word;
}

export interface SimpleCommand {
  words: Word[];
  redirects: Redirect[];
}

export interface ListItem {
  /** How this command depends on the previous one's status. */
  after: ';' | '&&' | '||';
  command: SimpleCommand;
}

type Token = { op: ';' | '&&' | '||' | '>' | '>>' | '2>' | '2>>' } | { word: Word };

class Lexer {
  private i = 0;
  private word: Word = [];
  private inWord = false;
  readonly tokens: Token[] = [];

  constructor(private readonly src: string) {}

  run(): Token[] {
    while (this.i < this.src.length) this.step(this.src[this.i]!);
    this.endWord();
    return this.tokens;
  }

  private step(ch: string): void {
    if (ch === ' ' || ch === '\t') return this.skip(() => this.endWord());
    if (ch === '\n' || ch === ';') return this.skip(() => this.pushOp(';'));
    if (ch === '#' && !this.inWord) return this.comment();
    if (ch === '&' || ch === '|') return this.andOr(ch);
    if (ch === '>') return this.redirect();
    if (ch === '<' || ch === '`' || ch === '(' || ch === ')') throw new ShellSyntaxError(`unsupported syntax "${ch}"`);
    if (ch === "'") return this.singleQuoted();
    if (ch === '"') return this.doubleQuoted();
    if (ch === '\\') return this.escaped();
    if (ch === '$') return this.param(false);
    this.text(ch, false);
    this.i++;
  }

  private skip(action: () => void): void {
    action();
    this.i++;
  }

  private comment(): void {
    while (this.i < this.src.length && this.src[this.i] !== '\n') this.i++;
  }

  private andOr(ch: string): void {
    if (this.src[this.i + 1] !== ch)
      throw new ShellSyntaxError(ch === '|' ? 'pipes are not supported' : 'background jobs are not supported');
    this.pushOp(ch === '&' ? '&&' : '||');
    this.i += 2;
  }

  private redirect(): void {
    const last = this.word;
    const stderr =
      this.inWord && last.length === 1 && last[0]!.kind === 'text' && !last[0]!.quoted && last[0]!.text === '2';
    if (stderr) {
      this.word = [];
      this.inWord = false;
    }
    const append = this.src[this.i + 1] === '>';
    this.pushOp(`${stderr ? '2' : ''}${append ? '>>' : '>'}` as '>' | '>>' | '2>' | '2>>');
    this.i += append ? 2 : 1;
  }

  private singleQuoted(): void {
    const end = this.src.indexOf("'", this.i + 1);
    if (end < 0) throw new ShellSyntaxError('unterminated quoted string');
    this.text(this.src.slice(this.i + 1, end), true);
    this.i = end + 1;
  }

  private doubleQuoted(): void {
    this.i++;
    this.text('', true);
    while (this.src[this.i] !== '"') {
      const ch = this.src[this.i];
      if (ch === undefined) throw new ShellSyntaxError('unterminated quoted string');
      if (ch === '`') throw new ShellSyntaxError('command substitution is not supported');
      if (ch === '$') {
        this.param(true);
        continue;
      }
      const next = this.src[this.i + 1];
      const escape = ch === '\\' && next !== undefined && '"\\$`'.includes(next);
      this.text(escape ? next : ch, true);
      this.i += escape ? 2 : 1;
    }
    this.i++;
  }

  private escaped(): void {
    const next = this.src[this.i + 1];
    if (next !== undefined && next !== '\n') this.text(next, true);
    this.i += 2;
  }

  private param(quoted: boolean): void {
    const rest = this.src.slice(this.i + 1);
    const match = /^(\{(\d+|[#?@])\}|\d|[#?@])/.exec(rest);
    if (!match) {
      if (/^[A-Za-z_({]/.test(rest)) throw new ShellSyntaxError('only positional parameters are supported');
      this.text('$', quoted);
      this.i++;
      return;
    }
    this.inWord = true;
    this.word.push({ kind: 'param', name: match[2] ?? match[1]!, quoted });
    this.i += 1 + match[0].length;
  }

  private text(text: string, quoted: boolean): void {
    this.inWord = true;
    const last = this.word[this.word.length - 1];
    if (last?.kind === 'text' && last.quoted === quoted) last.text += text;
    else this.word.push({ kind: 'text', text, quoted });
  }

  private endWord(): void {
    if (this.inWord) this.tokens.push({ word: this.word });
    this.word = [];
    this.inWord = false;
  }

  private pushOp(op: ';' | '&&' | '||' | '>' | '>>' | '2>' | '2>>'): void {
    this.endWord();
    this.tokens.push({ op });
  }
}

function redirectFrom(op: string, target: Token | undefined): Redirect {
  if (!target || !('word' in target)) throw new ShellSyntaxError(`redirection "${op}" needs a file name`);
  return { fd: op.startsWith('2') ? 2 : 1, append: op.endsWith('>>'), target: target.word };
}

export function parseScript(script: string): ListItem[] {
  const tokens = new Lexer(script).run();
  const items: ListItem[] = [];
  let after: ListItem['after'] = ';';
  let command: SimpleCommand = { words: [], redirects: [] };
  const finish = (next: ListItem['after']) => {
    const empty = command.words.length === 0 && command.redirects.length === 0;
    if (empty && next !== ';') throw new ShellSyntaxError(`syntax error near "${next}"`);
    if (!empty) items.push({ after, command });
    after = next;
    command = { words: [], redirects: [] };
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if ('word' in token) command.words.push(token.word);
    else if (token.op === ';' || token.op === '&&' || token.op === '||') finish(token.op);
    else command.redirects.push(redirectFrom(token.op, tokens[++i]));
  }
  if (after !== ';' && command.words.length === 0) throw new ShellSyntaxError('syntax error: unexpected end of script');
  finish(';');
  return items;
}
