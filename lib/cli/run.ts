// `gpubench run`: flags → SweepOptions, the sweep with progress lines, then the tables. The model and
// the device are resolved here once and passed down resolved (a ModelSpec and 'cpu' / 'cuda:N').
import {
  AbortError,
  DEFAULTS,
  checkModelLayout,
  checkMtpModel,
  deviceOfRank,
  formatTablesMarkdown,
  getAddon,
  gridFilePoints,
  gridPoints,
  layoutOf,
  ranksFromEnv,
  readGridFile,
  pointSettings,
  resolveModel,
  sweep,
  writeResultFile,
  type PointFailure,
  type PointOutcome,
  type SweepOptions,
  type SweepResult,
} from '../index.js';
import { existsSync } from 'node:fs';
import { appendJsonl, toJsonlLine } from '../report/jsonl.js';
import { appendCsv } from '../report/csv.js';
import { dropTornTail } from '../report/append-line.js';
import { fmtMs, fmtRate, fmtRatio, formatBreakdown, formatRunHeader, formatTables, oneLine } from '../report/table.js';
import { flagText, formatOf, optionValues, type RunFlags } from './flags.js';
import { mtpAcceptOf } from './mtp-flags.js';
import { sweepProgress } from './progress.js';
import { checkOutputs, OutputWriters } from './outputs.js';
import { measuredPoints } from './resume.js';
import { UsageError } from './usage-error.js';

/** Defaults of a run without flags, per device: a quick look that finishes in well under a minute. */
export const DEFAULT_RUN = {
  cpu: { model: 'tiny-llama', batchSizes: [1, 4], inputLens: [32, 128], outputLens: [8] },
  cuda: { model: 'llama-3.1-8b', batchSizes: [1, 8, 32], inputLens: [1024], outputLens: [32] },
};

/** A point as the terminal shows it: its error's advice names flags, not options. */
function withFlags(p: PointOutcome): PointOutcome {
  return p.ok ? p : { ...p, error: { ...p.error, message: flagText(p.error.message) } };
}

function progressLine(p: PointOutcome, index: number, count: number): string {
  const head = `[${index}/${count}] bs=${p.batchSize} in=${p.inputLen} out=${p.outputLen}`;
  if (!p.ok) return `${head}: failed: ${p.error.code}: ${flagText(oneLine(p.error.message))}`;
  const parts: string[] = [];
  if (p.prefillMs !== null) parts.push(`prefill ${fmtMs(p.prefillMs)} ms (${fmtRate(p.prefillTokPerS)} tok/s, ${fmtRatio(p.prefillRatio)} floor)`);
  const perStep = p.acceptedPerStep !== null ? `, ${p.acceptedPerStep.toFixed(2)} tok/step` : '';
  if (p.decode) parts.push(`decode median ${fmtMs(p.decode.median)} ms (${fmtRate(p.decodeTokPerS)} tok/s${perStep}, ${fmtRatio(p.decodeRatio)} floor)`);
  return `${head}: ${parts.join('; ') || 'done'}`;
}

export async function run(flags: RunFlags): Promise<number> {
  // Every flag is checked before the addon is loaded, so a typo is exit 2 even without a build.
  // The table's text readers return the option's type, which the sweep validates again.
  const given = optionValues(flags) as Partial<SweepOptions>;
  const format = formatOf(flags);
  const { saveJsonl, saveCsv, saveJson, resume } = flags as { saveJsonl?: string; saveCsv?: string; saveJson?: string; resume?: boolean };
  // A launch of several processes (torchrun, mpirun, srun, gpubench launch): only rank 0 prints and
  // writes; the others run their part and say nothing but errors. Every rank reads --resume's file,
  // so that all skip the same points (where they read different files, the ranks' agreement before
  // each point ends the run in one line: lib/api/rank-agree.ts).
  const launch = ranksFromEnv();
  const lead = launch.rank === 0;
  if (resume && saveJsonl === undefined) throw new UsageError('--resume: needs --save-jsonl <file> (the points measured before are read from it)');
  const { model, layers, device: deviceFlag, batchSizes, inputLens, outputLens, ...rest } = given;
  const mtpDrafts = given.mtpDrafts ?? DEFAULTS.mtpDrafts;
  const mtpAccept = mtpAcceptOf(flags.mtpAccept as string | undefined, flags.mtpAcceptRate as string | undefined, mtpDrafts);
  const resolve = (m: string | object) => resolveModel(m, layers === undefined ? {} : { layers });
  // A model given by flag is resolved before the addon loads: a bad config is exit 2 even without a build.
  let spec = model !== undefined ? resolve(model) : undefined;
  if (spec) checkMtpModel(spec, mtpDrafts);
  const layout = layoutOf({ tp: given.tp ?? DEFAULTS.tp, ep: given.ep ?? DEFAULTS.ep, dp: given.dp ?? DEFAULTS.dp, simulateWorld: given.simulateWorld, busBandwidth: given.busBandwidth });
  if (spec) checkModelLayout(spec, layout);
  const gridFile = typeof flags.grid === 'string' ? { file: flags.grid, points: readGridFile(flags.grid) } : undefined;
  const profile = given.profile ?? DEFAULTS.profile;
  const json = flags.json === true && lead;
  const quiet = flags.quiet === true || !lead;
  // --json: stdout holds the results (a JSON line per point); what people read goes to stderr, or
  // nowhere with --quiet (warnings and errors still do).
  const show = (text: string) => {
    if (!quiet) (json ? process.stderr : process.stdout).write(text);
  };
  if (lead) checkOutputs([
    { flag: '--save-jsonl', path: saveJsonl, kind: 'file' },
    { flag: '--save-csv', path: saveCsv, kind: 'file' },
    { flag: '--save-json', path: saveJson, kind: 'file' },
    // Trace files are the only thing written there.
    { flag: '--out-dir', path: profile === 'none' ? undefined : (given.outDir ?? DEFAULTS.outDir), kind: 'dir' },
  ]);
  if (given.weightsPath !== undefined && !existsSync(given.weightsPath)) {
    throw new UsageError(`--weights: '${given.weightsPath}' does not exist (allowed: a .safetensors file or a folder of them)`);
  }

  const addon = getAddon();
  const device = deviceOfRank(addon, deviceFlag ?? DEFAULTS.device, launch);
  const defaults = device === 'cpu' ? DEFAULT_RUN.cpu : DEFAULT_RUN.cuda;
  spec ??= resolve(defaults.model);
  checkModelLayout(spec, layout);

  const lists = { batchSizes, inputLens, outputLens };
  // A grid file's points, its missing dimensions from the list flags or the defaults; else the product.
  const gridOptions = gridFile
    ? { points: gridFilePoints(gridFile.file, gridFile.points, lists, defaults) }
    : { batchSizes: lists.batchSizes ?? defaults.batchSizes, inputLens: lists.inputLens ?? defaults.inputLens, outputLens: lists.outputLens ?? defaults.outputLens };
  const mode = given.mode ?? DEFAULTS.mode;
  // Prefill mode runs output length 1 whatever was asked (the sweep notes it); repeated points once.
  const grid = gridPoints(gridOptions, mode);

  // A line an interrupted write left without its newline would fuse with the next one appended.
  for (const file of lead ? [saveJsonl, saveCsv] : []) {
    const dropped = file === undefined ? 0 : dropTornTail(file);
    if (dropped > 0) process.stderr.write(`gpubench: ${file}: dropped a partial last line (${dropped} bytes) left by an interrupted write\n`);
  }
  const settings = pointSettings({ spec, routing: given.moeRouting ?? DEFAULTS.moeRouting, mtpDrafts, mtpAccept: mtpAccept ?? 'all' });
  const skipPoints = resume && saveJsonl !== undefined ? measuredPoints(saveJsonl, mode, settings, layout, grid) : [];
  const skippedLine = resume ? `skipped ${skipPoints.length} point${skipPoints.length === 1 ? '' : 's'} already in ${saveJsonl}` : undefined;
  const count = grid.length - skipPoints.length;
  if (count === 0) {
    show(`${skippedLine}; nothing left to run\n`);
    return 0;
  }

  const progress = sweepProgress(count, { quiet });
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    progress.stop();
    process.stderr.write('gpubench: interrupted; stopping after the current step (Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);

  const finished: PointOutcome[] = [];
  const writers = new OutputWriters((line) => process.stderr.write(line + '\n'));
  const options: SweepOptions = {
    ...rest,
    model: spec,
    device,
    ...gridOptions,
    ...(skipPoints.length > 0 ? { skipPoints } : {}),
    ...(mtpAccept !== undefined ? { mtpAccept } : {}),
    signal: controller.signal,
    addon,
    onPoint: (p) => {
      finished.push(p);
      // The CSV row first: the JSONL line is what --resume reads, so a kill between the two writes
      // measures that point again (a second CSV row) rather than leave it out of the CSV.
      if (saveCsv && lead) writers.write('--save-csv', saveCsv, () => appendCsv(saveCsv, p));
      if (saveJsonl && lead) writers.write('--save-jsonl', saveJsonl, () => appendJsonl(saveJsonl, p));
      if (json) process.stdout.write(toJsonlLine(p) + '\n');
      progress.pointDone(progressLine(p, finished.length, count));
    },
    onProgress: (p) => progress.update(p),
  };
  if (!quiet) process.stderr.write(`gpubench: ${skippedLine ? skippedLine + '; ' : ''}${count} point${count === 1 ? '' : 's'} on ${device}\n`);
  const skippedNote = skippedLine ? skippedLine + '\n' : '';

  let result: SweepResult;
  try {
    result = await sweep(options);
  } catch (e) {
    progress.stop();
    // Whatever stopped the run, what was measured is shown (it is in the JSONL/CSV already).
    if (finished.length > 0) show(formatTables(finished.map(withFlags)) + '\n' + skippedNote);
    if (e instanceof AbortError) {
      process.stderr.write(`gpubench: ${e.message}\n`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  progress.stop();
  if (lead) for (const note of new Set(result.points.flatMap((p) => p.notes))) process.stderr.write(`gpubench: note: ${flagText(note)}\n`);
  const shown = result.points.map(withFlags);
  const tables = format === 'md' ? formatTablesMarkdown(shown) : formatTables(shown) + '\n';
  show(formatRunHeader(result) + '\n\n' + tables + skippedNote);
  if (saveJson && lead) writers.write('--save-json', saveJson, () => writeResultFile(saveJson, result));
  if (profile !== 'none') {
    const breakdown = formatBreakdown(result.points);
    if (breakdown) show('\n' + breakdown + '\n');
    const traces = result.points.flatMap((p) => (p.ok ? p.traceFiles : []));
    if (traces.length && lead) process.stderr.write(`gpubench: traces (open in https://ui.perfetto.dev): ${traces.join(', ')}\n`);
  }
  return exitCode(result.points, writers.failures());
}

/** 0: every point ran and every output was written; 1 otherwise, saying which points failed. */
function exitCode(points: PointOutcome[], failedOutputs: string[]): number {
  const failed = points.filter((p): p is PointFailure => !p.ok);
  if (failed.length > 0) {
    const which = failed.map((p) => `bs=${p.batchSize} in=${p.inputLen} out=${p.outputLen} (${p.error.code})`).join(', ');
    process.stderr.write(`gpubench: ${failed.length} of ${points.length} points failed (exit 1): ${which}\n`);
  }
  if (failedOutputs.length > 0) process.stderr.write(`gpubench: not saved completely: ${failedOutputs.join(', ')}\n`);
  return failed.length > 0 || failedOutputs.length > 0 ? 1 : 0;
}
