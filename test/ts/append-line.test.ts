// The report files' line writer: a whole line with its newline per call, and the repair of a last
// line an interrupted write left without its newline.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendLine, dropTornTail } from '../../lib/report/append-line.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'gpubench-append-'));

describe('appendLine', () => {
  it('appends each line with its newline, creating the file and its folder', () => {
    const file = path.join(tmp(), 'sub', 'r.jsonl');
    appendLine(file, '{"a":1}');
    appendLine(file, '{"a":2}');
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n{"a":2}\n');
  });

  it('writes a line longer than a page whole', () => {
    const file = path.join(tmp(), 'r.csv');
    const long = 'x'.repeat(100_000);
    appendLine(file, long);
    expect(readFileSync(file, 'utf8')).toBe(long + '\n');
  });
});

describe('dropTornTail', () => {
  it('cuts a last line without its newline, keeping the whole lines', () => {
    const file = path.join(tmp(), 'r.jsonl');
    writeFileSync(file, '{"a":1}\n{"a":2}\n{"a":');
    expect(dropTornTail(file)).toBe(5);
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n{"a":2}\n');
    appendLine(file, '{"a":3}');
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n{"a":2}\n{"a":3}\n');
  });

  it('leaves a file of whole lines, an empty file and a missing file alone', () => {
    const dir = tmp();
    const whole = path.join(dir, 'whole.jsonl');
    writeFileSync(whole, 'a\nb\n');
    expect(dropTornTail(whole)).toBe(0);
    expect(readFileSync(whole, 'utf8')).toBe('a\nb\n');
    const empty = path.join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    expect(dropTornTail(empty)).toBe(0);
    expect(dropTornTail(path.join(dir, 'missing.jsonl'))).toBe(0);
  });

  it('empties a file whose only line is torn, even one longer than its read chunk', () => {
    const file = path.join(tmp(), 'r.csv');
    writeFileSync(file, 'y'.repeat(200_000));
    expect(dropTornTail(file)).toBe(200_000);
    expect(readFileSync(file, 'utf8')).toBe('');
  });

  it('finds the last newline more than one read chunk back', () => {
    const file = path.join(tmp(), 'r.csv');
    writeFileSync(file, 'head\n' + 'z'.repeat(150_000));
    expect(dropTornTail(file)).toBe(150_000);
    expect(readFileSync(file, 'utf8')).toBe('head\n');
  });
});
