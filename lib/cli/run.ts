// `gpubench run`: flags → SweepOptions, the sweep with progress lines, then the tables. The model and
// the device are resolved here once and passed down resolved (a ModelSpec and 'cpu' / 'cuda:N').
import {
  AbortError,
  DEFAULTS,
  checkMtpModel,
  formatTablesMarkdown,
  getAddon,
  gridFilePoints,
  gridPoints,
  readGridFile,
  resolveDevice,
  resolveModel,
  sweep,
  writeResultFile,
  type PointOutcome,
  type SweepOptions,
  type SweepResult,
} from '../index.js';
import { appendJsonl } from '../report/jsonl.js';
import { appendCsv } from '../report/csv.js';
import { fmtMs, fmtRate, fmtRatio, formatBreakdown, formatRunHeader, formatTables, oneLine } from '../report/table.js';
import { formatOf, optionValues, type RunFlags } from './flags.js';
import { mtpAcceptOf } from './mtp-flags.js';
import { sweepProgress } from './progress.js';

/** Defaults of a run without flags, per device: a quick look that finishes in well under a minute. */
const DEFAULT_RUN = {
  cpu: { model: 'tiny-llama', batchSizes: [1, 4], inputLens: [32, 128], outputLens: [8] },
  cuda: { model: 'llama-3.1-8b', batchSizes: [1, 8, 32], inputLens: [1024], outputLens: [32] },
};

function progressLine(p: PointOutcome, index: number, count: number): string {
  const head = `[${index}/${count}] bs=${p.batchSize} in=${p.inputLen} out=${p.outputLen}`;
  if (!p.ok) return `${head}: failed: ${p.error.code}: ${oneLine(p.error.message)}`;
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
  const { model, layers, device: deviceFlag, batchSizes, inputLens, outputLens, ...rest } = given;
  const mtpDrafts = given.mtpDrafts ?? DEFAULTS.mtpDrafts;
  const mtpAccept = mtpAcceptOf(flags.mtpAccept as string | undefined, flags.mtpAcceptRate as string | undefined, mtpDrafts);
  const resolve = (m: string | object) => resolveModel(m, layers === undefined ? {} : { layers });
  // A model given by flag is resolved before the addon loads: a bad config is exit 2 even without a build.
  let spec = model !== undefined ? resolve(model) : undefined;
  if (spec) checkMtpModel(spec, mtpDrafts);
  const gridFile = typeof flags.grid === 'string' ? { file: flags.grid, points: readGridFile(flags.grid) } : undefined;

  const addon = getAddon();
  const device = resolveDevice(addon, deviceFlag ?? DEFAULTS.device);
  const defaults = device === 'cpu' ? DEFAULT_RUN.cpu : DEFAULT_RUN.cuda;
  spec ??= resolve(defaults.model);

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    progress.stop();
    process.stderr.write('gpubench: interrupted; stopping after the current step (Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);

  const lists = { batchSizes, inputLens, outputLens };
  // A grid file's points, its missing dimensions from the list flags or the defaults; else the product.
  const grid = gridFile
    ? { points: gridFilePoints(gridFile.file, gridFile.points, lists, defaults) }
    : { batchSizes: lists.batchSizes ?? defaults.batchSizes, inputLens: lists.inputLens ?? defaults.inputLens, outputLens: lists.outputLens ?? defaults.outputLens };
  const mode = given.mode ?? DEFAULTS.mode;
  const count = gridPoints(grid, mode).length;
  const finished: PointOutcome[] = [];
  const quiet = flags.quiet === true;
  const progress = sweepProgress(count, { quiet });
  const { saveJsonl, saveCsv, saveJson } = flags as { saveJsonl?: string; saveCsv?: string; saveJson?: string };
  const options: SweepOptions = {
    ...rest,
    model: spec,
    device,
    ...grid,
    ...(mtpAccept !== undefined ? { mtpAccept } : {}),
    signal: controller.signal,
    addon,
    onPoint: (p) => {
      finished.push(p);
      if (saveJsonl) appendJsonl(saveJsonl, p);
      if (saveCsv) appendCsv(saveCsv, p);
      progress.pointDone(progressLine(p, finished.length, count));
    },
    onProgress: (p) => progress.update(p),
  };
  if (!quiet) process.stderr.write(`gpubench: ${count} point${count === 1 ? '' : 's'} on ${device}\n`);

  let result: SweepResult;
  try {
    result = await sweep(options);
  } catch (e) {
    progress.stop();
    // Whatever stopped the run, what was measured is shown (it is in the JSONL/CSV already).
    if (finished.length > 0) process.stdout.write(formatTables(finished) + '\n');
    if (e instanceof AbortError) {
      process.stderr.write(`gpubench: ${e.message}\n`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  progress.stop();
  for (const note of new Set(result.points.flatMap((p) => p.notes))) process.stderr.write(`gpubench: note: ${note}\n`);
  const tables = format === 'md' ? formatTablesMarkdown(result.points) : formatTables(result.points) + '\n';
  process.stdout.write(formatRunHeader(result) + '\n\n' + tables);
  if (saveJson) writeResultFile(saveJson, result);
  if ((given.profile ?? DEFAULTS.profile) !== 'none') {
    const breakdown = formatBreakdown(result.points);
    if (breakdown) process.stdout.write('\n' + breakdown + '\n');
    const traces = result.points.flatMap((p) => (p.ok ? p.traceFiles : []));
    if (traces.length) process.stderr.write(`gpubench: traces (open in https://ui.perfetto.dev): ${traces.join(', ')}\n`);
  }
  const ok = result.points.filter((p) => p.ok).length;
  if (ok < result.points.length) process.stderr.write(`gpubench: ${result.points.length - ok} of ${result.points.length} points failed\n`);
  return ok > 0 ? 0 : 1;
}
