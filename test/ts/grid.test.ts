// The grid beyond three lists: llama-bench's range syntax (flag-text.ts), grid files (grid-file.ts)
// and explicit points in the API, and both through `gpubench run` (fake addon).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { FlagTextError, integerRanges, MAX_RANGE_VALUES } from '../../lib/api/flag-text.js';
import { gridFilePoints, readGridFile } from '../../lib/api/grid-file.js';
import { gridPoints, parseSweepOptions } from '../../lib/api/options.js';
import { sweep } from '../../lib/api/bench.js';
import { InvalidArgumentError } from '../../lib/base/errors.js';
import { runCli } from './cli-helpers.js';
import { fakeAddon } from './fake-addon.js';

const state = vi.hoisted(() => ({ addon: undefined as unknown }));
vi.mock('../../lib/bridge/native.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../lib/bridge/native.js')>()),
  loadAddon: () => state.addon,
}));

const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-grid-'));
function file(name: string, text: string): string {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
}
const P = (batchSize: number, inputLen: number, outputLen: number) => ({ batchSize, inputLen, outputLen });

describe('range syntax', () => {
  it.each([
    ['1-64*2', [1, 2, 4, 8, 16, 32, 64]],
    ['128-1024+128', [128, 256, 384, 512, 640, 768, 896, 1024]],
    ['1,2,8-32*2', [1, 2, 8, 16, 32]],
    ['3-5', [3, 4, 5]],
    ['1-100*3', [1, 3, 9, 27, 81]],
    ['10-25+10', [10, 20]],
    [' 4 , 2 ', [4, 2]],
    ['7-7', [7]],
  ])('%s', (text, values) => expect(integerRanges(text)).toEqual(values));

  it.each(['', '0', '1,', 'a', '1-', '-4', '8-2', '1-8*1', '1-8+0', '1-8/2', '1.5', '1-8*2*2'])('refuses %j, saying what is allowed', (text) => {
    expect(() => integerRanges(text)).toThrow(FlagTextError);
    expect(() => integerRanges(text)).toThrow(/first-last\+step or first-last\*factor/);
  });

  it(`refuses a range of more than ${MAX_RANGE_VALUES} values`, () => {
    expect(integerRanges(`1-${MAX_RANGE_VALUES}`)).toHaveLength(MAX_RANGE_VALUES);
    expect(() => integerRanges(`1-${MAX_RANGE_VALUES + 1}`)).toThrow(/at most 4096 values/);
  });
});

describe('grid files', () => {
  it('a product of lists, values as integers, ranges or both (JSON)', () => {
    const f = file('p.json', '{"batch": [1, "4-8*2"], "input_len": "128-256+128", "output_len": 32}');
    expect(readGridFile(f)).toEqual([
      P(1, 128, 32), P(1, 256, 32), P(4, 128, 32), P(4, 256, 32), P(8, 128, 32), P(8, 256, 32),
    ]);
  });

  it('zipped lists, pairwise (YAML)', () => {
    const f = file('z.yaml', 'zip:\n  batch: [1, 8, 32]\n  input_len: [2048, 1024, "512"]\n');
    expect(readGridFile(f)).toEqual([{ batchSize: 1, inputLen: 2048 }, { batchSize: 8, inputLen: 1024 }, { batchSize: 32, inputLen: 512 }]);
  });

  it('a list of points (.yml)', () => {
    const f = file('l.yml', 'points:\n  - {batch: 1, input_len: 64, output_len: 4}\n  - {batch: 2, input_len: 32, output_len: 8}\n');
    expect(readGridFile(f)).toEqual([P(1, 64, 4), P(2, 32, 8)]);
  });

  it("crosses the file's points with the lists of the dimensions it does not give", () => {
    const f = file('z2.json', '{"zip": {"batch": [1, 8], "input_len": [64, 32]}}');
    const fallback = { batchSizes: [99], inputLens: [99], outputLens: [16] };
    expect(gridFilePoints(f, readGridFile(f), { outputLens: [4, 8] }, fallback)).toEqual([P(1, 64, 4), P(1, 64, 8), P(8, 32, 4), P(8, 32, 8)]);
    expect(gridFilePoints(f, readGridFile(f), {}, fallback)).toEqual([P(1, 64, 16), P(8, 32, 16)]);
    expect(() => gridFilePoints(f, readGridFile(f), { batchSizes: [2] }, fallback)).toThrow(
      'batchSizes: not allowed with grid file z2.json, which gives it (allowed: absent when the grid file gives batchSize)',
    );
  });

  it.each([
    ['a.json', '{"zip": {"batch": [1, 2], "input_len": [8]}}', /a\.json: zip\.input_len: 1 values, zip\.batch has 2 \(allowed: batch, input_len/],
    ['b.json', '{"batch": [1, "8-2*2"]}', /b\.json: batch\.1: '8-2\*2' is not allowed \(allowed: positive integers and ranges/],
    ['c.json', '{"batch": [1, -3]}', /c\.json: batch\.1: -3 is not allowed \(allowed: a positive integer, a range text or a list/],
    ['d.json', '{"batchs": [1]}', /d\.json: unknown key 'batchs' \(allowed: batch, input_len, output_len/],
    ['e.json', '{"points": [{"batch": 1, "input_len": 8}, {"batch": 2}]}', /e\.json: points\.1: gives other dimensions than points\.0/],
    ['f.json', '{"zip": {"batch": [1], "seq": [2]}}', /f\.json: zip: unknown key 'seq'/],
    ['g.json', '{}', /g\.json: gives no dimension/],
    ['h.yaml', 'batch: [1, 2\n', /h\.yaml: cannot be read: .* \(allowed: a readable JSON file, or YAML named \.yaml or \.yml\)/],
    ['i.json', '{"batch": []}', /i\.json: batch: an empty list is not allowed/],
  ])('%s: one line naming the file and the field', (name, text, message) => {
    const f = file(name, text);
    let err: unknown;
    try {
      readGridFile(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(new RegExp(`^grid file ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });

  it('a missing file names it', () => {
    expect(() => readGridFile(path.join(dir, 'none.json'))).toThrow(/none\.json: cannot be read: ENOENT/);
  });
});

describe('explicit points in the API', () => {
  const base = { model: 'tiny-llama' };

  it('are either the points or the three lists', () => {
    expect(parseSweepOptions({ ...base, points: [P(1, 8, 4), P(1, 8, 4), P(2, 4, 4)] }).points).toEqual([P(1, 8, 4), P(2, 4, 4)]);
    expect(() => parseSweepOptions({ ...base, points: [P(1, 8, 4)], batchSizes: [1] })).toThrow(
      'points: not allowed with batchSizes (allowed: either points or batchSizes, inputLens and outputLens)',
    );
    expect(() => parseSweepOptions({ ...base, points: [] })).toThrow(/^points: \[\] is not allowed/);
    expect(() => parseSweepOptions({ ...base, points: [{ batchSize: 1, inputLen: 8 }] as never })).toThrow(/^points: /);
  });

  it('run in the order given; prefill mode makes each output length 1', async () => {
    expect(gridPoints({ points: [P(2, 8, 4), P(1, 8, 8), P(1, 8, 4)] }, 'prefill')).toEqual([P(2, 8, 1), P(1, 8, 1)]);
    const r = await sweep({ ...base, layers: 1, device: 'cpu', addon: fakeAddon(), points: [P(2, 16, 4), P(1, 8, 2)] });
    expect(r.points.map((p) => [p.batchSize, p.inputLen, p.outputLen])).toEqual([[2, 16, 4], [1, 8, 2]]);
  });
});

describe('gpubench run --grid and ranges', () => {
  const run = ['run', '--model', 'tiny-llama', '--layers', '1', '--device', 'cpu'];

  it('runs the points of a zip file, output lengths from --output-len', async () => {
    state.addon = fakeAddon();
    const f = file('run.yaml', 'zip:\n  batch: [1, 4]\n  input_len: [16, 8]\n');
    const r = await runCli([...run, '--grid', f, '--output-len', '2,4']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('gpubench: 4 points on cpu');
    expect(r.stderr).toMatch(/\[1\/4\] bs=1 in=16 out=2: .*\n\[2\/4\] bs=1 in=16 out=4: .*\n\[3\/4\] bs=4 in=8 out=2: .*\n\[4\/4\] bs=4 in=8 out=4: /);
  });

  it('expands ranges in the list flags', async () => {
    state.addon = fakeAddon();
    const r = await runCli([...run, '--batch', '1-4*2', '--input-len', '8-16+8', '--output-len', '2']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('gpubench: 6 points on cpu');
  });

  it('a bad grid file or range is exit 2, one line naming it', async () => {
    state.addon = fakeAddon();
    const f = file('bad.json', '{"zip": {"batch": [1, 2], "input_len": [8]}}');
    const r = await runCli([...run, '--grid', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^gpubench: error: grid file .*bad\.json: zip\.input_len: 1 values, zip\.batch has 2 \(allowed: .*\)\n$/);
    const b = await runCli([...run, '--batch', '8-1*2']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/^gpubench: error: --batch: '8-1\*2' is not allowed \(allowed: positive integers and ranges .*\)\n$/);
    const c = await runCli([...run, '--grid', file('both.json', '{"batch": [1]}'), '--batch', '2']);
    expect(c.code).toBe(2);
    expect(c.stderr).toBe('gpubench: error: --batch: not allowed with grid file both.json, which gives it (allowed: absent when the grid file gives batchSize)\n');
  });
});
