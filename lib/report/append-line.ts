// Appending one record to a report file so that a crash leaves only whole lines. The line is
// written with one write(2) on a file opened O_APPEND (each point's line lands after the last one,
// whole, even with another writer on the file), then fsync'ed: a killed process loses nothing the
// kernel took, and the fsync (one disk flush per point, small beside a point's passes) keeps the
// lines through a machine crash too. Linux can still cut a write short when the process is killed
// while the kernel copies a line that spans two pages, or when the disk is full; such a torn last
// line has no newline, and dropTornTail removes it before the next run appends.
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Appends `line` and a newline to `file` (created with its folder when absent), in one write. */
export function appendLine(file: string, line: string): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const data = Buffer.from(line + '\n', 'utf8');
  const created = !existsSync(file);
  const fd = openSync(file, 'a');
  try {
    const written = writeSync(fd, data, 0, data.length);
    if (written !== data.length) throw new Error(`${file}: wrote ${written} of ${data.length} bytes (disk full?)`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // A new file's name lives in its folder: flush that too, or a machine crash can lose the file.
  if (created) fsyncFolder(path.dirname(path.resolve(file)));
}

function fsyncFolder(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Cuts `file` back to its last newline, dropping a last line that an interrupted write left
 * without one (appending after it would fuse it with the next record). Returns the bytes dropped.
 */
export function dropTornTail(file: string): number {
  if (!existsSync(file)) return 0;
  const size = statSync(file).size;
  if (size === 0) return 0;
  const fd = openSync(file, 'r+');
  try {
    // Read backwards in chunks until a newline: a torn line is at most one record long.
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) {
        const keep = start + nl + 1;
        if (keep < size) ftruncateSync(fd, keep);
        return size - keep;
      }
      end = start;
    }
    ftruncateSync(fd, 0);
    return size;
  } finally {
    closeSync(fd);
  }
}
