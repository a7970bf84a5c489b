// Where `run` writes (--save-jsonl, --save-csv, --save-json, --out-dir): each path is checked before
// the first point runs, so a typo costs no measurement; a write that fails mid-sweep is reported
// once, keeps what is already on disk, and never stops the points still to run.
import { closeSync, openSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from './usage-error.js';

/** The nearest existing ancestor of p (p itself when it exists). */
function existingAncestor(p: string): { at: string; isDir: boolean } {
  let at = path.resolve(p);
  for (;;) {
    try {
      return { at, isDir: statSync(at).isDirectory() };
    } catch (e) {
      // ENOTDIR: a file stands where a folder of the path would be; the walk up finds it.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      const up = path.dirname(at);
      if (up === at) throw e;
      at = up;
    }
  }
}

// Tried, not asked: access(2) says yes to root on /proc or a read-only mount, so the check opens
// what the run will open (an existing file for append; a new file in the folder that would hold it)
// and removes what it made.
function writable(p: string, isDir: boolean): boolean {
  const probe = isDir ? path.join(p, `.gpubench-write-check-${process.pid}`) : p;
  try {
    closeSync(openSync(probe, isDir ? 'wx' : 'a'));
    if (isDir) unlinkSync(probe);
    return true;
  } catch {
    return false;
  }
}

/** Why `p` cannot be written as a `kind`, or undefined when it can (or can be created). */
export function outputProblem(p: string, kind: 'file' | 'dir'): string | undefined {
  const { at, isDir } = existingAncestor(p);
  if (at === path.resolve(p)) {
    if (kind === 'file' && isDir) return 'is a directory (allowed: a file path)';
    if (kind === 'dir' && !isDir) return 'is a file (allowed: a directory path)';
    return writable(at, isDir) ? undefined : 'is not writable';
  }
  if (!isDir) return `cannot be created: ${at} is a file`;
  return writable(at, true) ? undefined : `cannot be created: ${at} is not writable`;
}

/** Checks every output path the flags name; a bad one is a UsageError (exit 2) naming its flag. */
export function checkOutputs(paths: { flag: string; path: string | undefined; kind: 'file' | 'dir' }[]): void {
  for (const o of paths) {
    if (o.path === undefined) continue;
    const problem = outputProblem(o.path, o.kind);
    if (problem) throw new UsageError(`${o.flag}: '${o.path}' ${problem}`);
  }
}

/**
 * Runs each writer of a flag until one of its writes fails; the failure is printed once (flag and
 * reason) and later writes to that flag are skipped, so the other outputs and the points go on.
 */
export class OutputWriters {
  private readonly failed = new Map<string, string>();

  constructor(private readonly warn: (line: string) => void) {}

  write(flag: string, file: string, write: () => void): void {
    if (this.failed.has(flag)) return;
    try {
      write();
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.failed.set(flag, reason);
      this.warn(`gpubench: ${flag}: cannot write '${file}': ${reason}; what was written is kept, later points are not saved to it`);
    }
  }

  /** The flags whose writes failed. */
  failures(): string[] {
    return [...this.failed.keys()];
  }
}
