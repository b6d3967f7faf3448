/*
 * A container's files, in memory: enough of a filesystem for what the functions exec (remove by
 * glob, write from stdin, read, list). Paths are absolute and normalised; directories exist
 * explicitly, so writing into a missing directory fails as it would in a container.
 */
import path from 'node:path/posix';

export class FsError extends Error {}

export class MemoryFilesystem {
  private readonly files = new Map<string, Buffer>();
  private readonly dirs = new Set<string>(['/']);

  constructor(dirs: readonly string[]) {
    for (const dir of dirs) this.mkdirs(dir);
  }

  resolve(file: string, cwd = '/'): string {
    return path.resolve(cwd, file);
  }

  isDirectory(file: string): boolean {
    return this.dirs.has(this.resolve(file));
  }

  exists(file: string): boolean {
    const at = this.resolve(file);
    return this.files.has(at) || this.dirs.has(at);
  }

  read(file: string): Buffer {
    const at = this.resolve(file);
    const content = this.files.get(at);
    if (content) return content;
    throw new FsError(this.dirs.has(at) ? 'Is a directory' : 'No such file or directory');
  }

  write(file: string, content: Buffer, append = false): void {
    const at = this.resolve(file);
    if (this.dirs.has(at)) throw new FsError('Is a directory');
    if (!this.dirs.has(path.dirname(at))) throw new FsError('No such file or directory');
    const before = append ? (this.files.get(at) ?? Buffer.alloc(0)) : Buffer.alloc(0);
    this.files.set(at, Buffer.concat([before, content]));
  }

  remove(file: string): void {
    const at = this.resolve(file);
    if (this.dirs.has(at)) throw new FsError('Is a directory');
    if (!this.files.delete(at)) throw new FsError('No such file or directory');
  }

  /** Entry names in a directory, sorted. */
  list(dir: string): string[] {
    const at = this.resolve(dir);
    if (!this.dirs.has(at)) throw new FsError('No such file or directory');
    const names = [...this.files.keys(), ...this.dirs]
      .filter((entry) => entry !== at && path.dirname(entry) === at)
      .map((entry) => path.basename(entry));
    return names.sort();
  }

  /**
   * Paths matching a shell pattern (`*` and `?` within one path segment), sorted; empty when
   * nothing matches, and the caller keeps the word literal, as sh does.
   */
  glob(pattern: string): string[] {
    const at = this.resolve(pattern);
    const dir = path.dirname(at);
    if (/[*?]/.test(dir)) return [];
    const base = new RegExp(
      `^${path
        .basename(at)
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')}$`,
    );
    if (!this.dirs.has(dir)) return [];
    return this.list(dir)
      .filter((name) => !name.startsWith('.') && base.test(name))
      .map((name) => path.join(dir, name));
  }

  /** An independent copy, for a trial run that must change nothing. */
  clone(): MemoryFilesystem {
    const copy = new MemoryFilesystem([]);
    for (const dir of this.dirs) copy.dirs.add(dir);
    for (const [file, content] of this.files) copy.files.set(file, content);
    return copy;
  }

  private mkdirs(dir: string): void {
    let at = this.resolve(dir);
    while (!this.dirs.has(at)) {
      this.dirs.add(at);
      at = path.dirname(at);
    }
  }
}
