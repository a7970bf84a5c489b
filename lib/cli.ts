#!/usr/bin/env node
// The gpubench command. Exit codes: 0 the run finished (failed points are reported, not fatal, as
// long as one point ran); 1 the run failed (or every point did); 2 a bad flag or value, one line on
// stderr; 130 interrupted (Ctrl-C), after printing what was measured.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import Table from 'cli-table3';
import { sweep, type SweepResult } from './bench.js';
import { AbortError, GpubenchError } from './errors.js';
import { resolveModel } from './model-spec.js';
import { listPresets, formatParams } from './presets.js';
import { backends, getAddon, listDevices, resolveDevice } from './device.js';
import { loadedAddon } from './native.js';
import { describeAddon } from './addon-loader.js';
import { MODES, MOE_ROUTING_ALLOWED, PROFILES, isMoeRouting, type Mode, type ProfileWhat, type SweepOptions } from './options.js';
import { checkMtpModel, type MtpAccept } from './mtp.js';
import type { PointOutcome } from './result.js';
import { appendJsonl } from './report/jsonl.js';
import { appendCsv } from './report/csv.js';
import { COMPACT, fmtMs, fmtRate, fmtRatio, formatBreakdown, formatRunHeader, formatTables, oneLine } from './report/table.js';

/** A usage error: printed as `gpubench: error: <message>`, exit code 2. */
class UsageError extends Error {}

const FLAG_OF: Record<string, string> = {
  model: '--model', batchSizes: '--batch', inputLens: '--input-len', outputLens: '--output-len', mode: '--mode',
  device: '--device', layers: '--layers', seed: '--seed', runName: '--run-name', weightsPath: '--weights',
  profile: '--profile', outDir: '--out-dir', batchTimeoutMs: '--batch-timeout-ms', kvPoolTokens: '--kv-pool-tokens',
  threads: '--threads', profileDecodeSteps: '--profile-decode-steps', moeRouting: '--moe-routing',
  mtpDrafts: '--mtp-drafts', mtpAccept: '--mtp-accept',
};

/** Defaults of a run without flags, per device: a quick look that finishes in well under a minute. */
const DEFAULT_RUN = {
  cpu: { model: 'tiny-llama', batch: [1, 4], inputLen: [32, 128], outputLen: [8] },
  cuda: { model: 'llama-3.1-8b', batch: [1, 8, 32], inputLen: [1024], outputLen: [32] },
};

function intList(flag: string, text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const values = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  if (parts.length === 0 || values.some((v) => !Number.isSafeInteger(v) || v < 1)) {
    throw new UsageError(`${flag}: '${text}' is not allowed (allowed: positive integers, comma-separated)`);
  }
  return values;
}

function int(flag: string, text: string, min = 1): number {
  const v = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new UsageError(`${flag}: '${text}' is not allowed (allowed: an integer >= ${min})`);
  }
  return v;
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`${flag}: '${text}' is not allowed (allowed: ${allowed.join(', ')})`);
  }
  return text as T;
}

/** A GpubenchError about an option, with the option's name replaced by its flag. */
function flagMessage(e: GpubenchError): string {
  const flag = e.field !== undefined ? FLAG_OF[e.field] : undefined;
  const msg = oneLine(e.message);
  return flag && e.field !== undefined && msg.startsWith(`${e.field}:`) ? flag + msg.slice(e.field.length) : msg;
}

interface RunFlags {
  model?: string;
  batch?: string;
  inputLen?: string;
  outputLen?: string;
  mode: string;
  device: string;
  layers?: string;
  seed: string;
  runName?: string;
  weights?: string;
  saveJsonl?: string;
  saveCsv?: string;
  profile: string;
  profileDecodeSteps?: string;
  outDir: string;
  graphs: boolean;
  batchTimeoutMs: string;
  kvPoolTokens?: string;
  threads?: string;
  moeRouting: string;
  mtpDrafts?: string;
  mtpAccept?: string;
  mtpAcceptRate?: string;
}

/** --mtp-accept all|N or --mtp-accept-rate r (one of them, and only with --mtp-drafts K > 0). */
function mtpAcceptOf(flags: RunFlags, drafts: number): MtpAccept | undefined {
  const { mtpAccept: n, mtpAcceptRate: rate } = flags;
  if (n === undefined && rate === undefined) return undefined;
  if (n !== undefined && rate !== undefined) {
    throw new UsageError('--mtp-accept and --mtp-accept-rate are exclusive (allowed: one of them)');
  }
  const flag = n !== undefined ? '--mtp-accept' : '--mtp-accept-rate';
  if (drafts === 0) throw new UsageError(`${flag}: needs --mtp-drafts K > 0 (MTP is off)`);
  if (rate !== undefined) {
    const r = /^(\d+\.?\d*|\.\d+)$/.test(rate.trim()) ? Number(rate) : NaN;
    if (!(r >= 0 && r <= 1)) throw new UsageError(`--mtp-accept-rate: '${rate}' is not allowed (allowed: a number in [0, 1])`);
    return { rate: r };
  }
  if (n === 'all') return 'all';
  const v = /^\d+$/.test(String(n).trim()) ? Number(n) : NaN;
  if (!(v <= drafts)) {
    throw new UsageError(`--mtp-accept: '${n}' is not allowed (allowed: all or an integer in [0, ${drafts}], the --mtp-drafts)`);
  }
  return v;
}

function progressLine(p: PointOutcome, index: number, count: number): string {
  const head = `[${index}/${count}] bs=${p.batchSize} in=${p.inputLen} out=${p.outputLen}`;
  if (!p.ok) return `${head}: failed: ${p.error.code}: ${oneLine(p.error.message)}`;
  const parts: string[] = [];
  if (p.prefillMs !== null) parts.push(`prefill ${fmtMs(p.prefillMs)} ms (${fmtRate(p.prefillTokPerS)} tok/s, ${fmtRatio(p.prefillRatio)} floor)`);
  const perStep = p.acceptedPerStep !== null ? `, ${p.acceptedPerStep.toFixed(2)} tok/step` : '';
  if (p.decode) parts.push(`decode median ${fmtMs(p.decode.median)} ms (${fmtRate(p.decodeTokPerS)} tok/s${perStep}, ${fmtRatio(p.decodeRatio)} floor)`);
  return `${head}: ${parts.join('; ') || 'done'}`;
}

async function run(flags: RunFlags): Promise<number> {
  // Every flag is checked before the addon is loaded, so a typo is exit 2 even without a build.
  const mode = oneOf<Mode>('--mode', flags.mode, MODES);
  const profile = oneOf<ProfileWhat>('--profile', flags.profile, PROFILES);
  if (!/^(auto|cpu|cuda(:\d+)?)$/.test(flags.device)) {
    throw new UsageError(`--device: '${flags.device}' is not allowed (allowed: auto, cpu, cuda, cuda:N)`);
  }
  const batch = flags.batch !== undefined ? intList('--batch', flags.batch) : undefined;
  const inputLen = flags.inputLen !== undefined ? intList('--input-len', flags.inputLen) : undefined;
  const outputLen = flags.outputLen !== undefined ? intList('--output-len', flags.outputLen) : undefined;
  const layers = flags.layers !== undefined ? int('--layers', flags.layers) : undefined;
  const seed = int('--seed', flags.seed, 0);
  const batchTimeoutMs = int('--batch-timeout-ms', flags.batchTimeoutMs);
  const kvPoolTokens = flags.kvPoolTokens !== undefined ? int('--kv-pool-tokens', flags.kvPoolTokens) : undefined;
  const threads = flags.threads !== undefined ? int('--threads', flags.threads, 0) : undefined;
  const profileDecodeSteps = flags.profileDecodeSteps !== undefined ? int('--profile-decode-steps', flags.profileDecodeSteps) : undefined;
  if (!isMoeRouting(flags.moeRouting)) {
    throw new UsageError(`--moe-routing: '${flags.moeRouting}' is not allowed (allowed: ${MOE_ROUTING_ALLOWED})`);
  }
  const mtpDrafts = flags.mtpDrafts !== undefined ? int('--mtp-drafts', flags.mtpDrafts, 0) : 0;
  const mtpAccept = mtpAcceptOf(flags, mtpDrafts);
  if (flags.model !== undefined) checkMtpModel(resolveModel(flags.model, layers === undefined ? {} : { layers }), mtpDrafts);

  const addon = getAddon();
  const device = resolveDevice(addon, flags.device);
  const defaults = device === 'cpu' ? DEFAULT_RUN.cpu : DEFAULT_RUN.cuda;

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('gpubench: interrupted; stopping after the current step (Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);

  const batchSizes = batch ?? defaults.batch;
  const inputLens = inputLen ?? defaults.inputLen;
  const outputLens = outputLen ?? defaults.outputLen;
  const distinct = (xs: number[]) => new Set(xs).size;
  const count = distinct(batchSizes) * distinct(inputLens) * (mode === 'prefill' ? 1 : distinct(outputLens));
  const finished: PointOutcome[] = [];
  const options: SweepOptions = {
    model: flags.model ?? defaults.model,
    device,
    batchSizes,
    inputLens,
    outputLens,
    mode,
    seed,
    profile,
    outDir: flags.outDir,
    useGraphs: flags.graphs,
    batchTimeoutMs,
    moeRouting: flags.moeRouting,
    mtpDrafts,
    ...(mtpAccept !== undefined ? { mtpAccept } : {}),
    signal: controller.signal,
    addon,
    ...(layers !== undefined ? { layers } : {}),
    ...(flags.runName !== undefined ? { runName: flags.runName } : {}),
    ...(flags.weights !== undefined ? { weightsPath: flags.weights } : {}),
    ...(kvPoolTokens !== undefined ? { kvPoolTokens } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(profileDecodeSteps !== undefined ? { profileDecodeSteps } : {}),
    onPoint: (p) => {
      finished.push(p);
      if (flags.saveJsonl) appendJsonl(flags.saveJsonl, p);
      if (flags.saveCsv) appendCsv(flags.saveCsv, p);
      process.stderr.write(progressLine(p, finished.length, count) + '\n');
    },
  };
  process.stderr.write(`gpubench: ${count} point${count === 1 ? '' : 's'} on ${device}\n`);

  let result: SweepResult;
  try {
    result = await sweep(options);
  } catch (e) {
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
  for (const note of new Set(result.points.flatMap((p) => p.notes))) process.stderr.write(`gpubench: note: ${note}\n`);
  process.stdout.write(formatRunHeader(result) + '\n\n' + formatTables(result.points) + '\n');
  if (profile !== 'none') {
    const breakdown = formatBreakdown(result.points);
    if (breakdown) process.stdout.write('\n' + breakdown + '\n');
    const traces = result.points.flatMap((p) => (p.ok ? p.traceFiles : []));
    if (traces.length) process.stderr.write(`gpubench: traces (open in https://ui.perfetto.dev): ${traces.join(', ')}\n`);
  }
  const ok = result.points.filter((p) => p.ok).length;
  if (ok < result.points.length) process.stderr.write(`gpubench: ${result.points.length - ok} of ${result.points.length} points failed\n`);
  return ok > 0 ? 0 : 1;
}

function models(): number {
  const t = new Table({ head: ['Name', 'Type', 'Params', 'Layers', 'Hidden', 'Heads (q/kv)', 'Description'], chars: COMPACT, style: { head: [], border: [] } });
  for (const p of listPresets()) {
    t.push([p.name, p.modelType, formatParams(p.params), String(p.numLayers), String(p.hiddenSize), `${p.numHeads}/${p.numKvHeads}`, p.description]);
  }
  process.stdout.write(t.toString() + '\n');
  return 0;
}

function devices(): number {
  const addon = getAddon();
  process.stdout.write(`${describeAddon(loadedAddon())}\n`);
  const have = backends(addon);
  const cuda = have.includes('cuda') ? listDevices(addon).filter((d) => d.device.startsWith('cuda')) : [];
  if (!have.includes('cuda')) {
    process.stdout.write(`This build has no CUDA backend (backends: ${have.join(', ')}); gpubench runs on the CPU (--device cpu).\n`);
    return 0;
  }
  if (cuda.length === 0) {
    process.stdout.write('This build has the CUDA backend, but no CUDA device is visible; gpubench runs on the CPU (--device cpu).\n');
    return 0;
  }
  const GiB = 1024 ** 3;
  const t = new Table({ head: ['Device', 'Name', 'Memory (GiB)', 'Free (GiB)', 'Compute Capability', 'Driver'], chars: COMPACT, style: { head: [], border: [] } });
  for (const d of cuda) {
    const driver = d.driverVersion > 0 ? `${Math.floor(d.driverVersion / 1000)}.${Math.floor((d.driverVersion % 1000) / 10)}` : '-';
    t.push([d.device, d.name, (d.totalBytes / GiB).toFixed(1), (d.freeBytes / GiB).toFixed(1), d.computeCapability, driver]);
  }
  process.stdout.write(t.toString() + '\n');
  return 0;
}

function program(setCode: (code: number) => void): Command {
  const cmd = new Command('gpubench')
    .description('LLM inference microbenchmark: prefill and decode forward passes over a grid of batch sizes and sequence lengths')
    .exitOverride()
    .configureOutput({ outputError: () => {} }); // errors are printed once, in main()
  cmd
    .command('run')
    .description('run a sweep (batch × input × output) and print the result tables')
    .option('--model <name|path>', 'preset name, config.json or its folder (default: tiny-llama on CPU, llama-3.1-8b on CUDA)')
    .option('--batch <list>', 'batch sizes, e.g. 1,2,4')
    .option('--input-len <list>', 'input lengths, e.g. 128,1024')
    .option('--output-len <list>', 'output lengths, e.g. 32')
    .addOption(new Option('--mode <mode>', 'decode | prefill | both').default('both'))
    .option('--device <device>', 'auto | cpu | cuda | cuda:N', 'auto')
    .option('--layers <n>', 'replace num_hidden_layers')
    .option('--seed <n>', 'seed of the dummy weights and the prompts', '42')
    .option('--run-name <name>', 'names the run in reports and trace files (default: the model name)')
    .option('--weights <path>', 'real weights: a .safetensors file or a folder of them')
    .option('--save-jsonl <file>', 'append one JSON line per point (sglang field names)')
    .option('--save-csv <file>', 'append one CSV row per point (same fields)')
    .option('--profile <what>', 'none | prefill | decode | both: write Chrome traces of the profiled pass', 'none')
    .option('--profile-decode-steps <n>', 'decode steps the profiled pass covers (default 4)')
    .option('--out-dir <dir>', 'where trace files go', 'out')
    .option('--no-graphs', 'decode steps run eagerly instead of replaying CUDA graphs')
    .option('--batch-timeout-ms <n>', 'how long the scheduler waits for a full batch', '10000')
    .option('--kv-pool-tokens <n>', 'cap the KV pool; points that need more fail with ERR_DOES_NOT_FIT')
    .option('--threads <n>', 'CPU worker threads (0: all cores)')
    .option('--moe-routing <policy>', 'MoE models: balanced | uniform | zipf:<s> | real (which experts each token uses)', 'balanced')
    .option('--mtp-drafts <k>', 'MTP models (deepseek_v3): draft K tokens per decode step with the MTP layer and verify them (default 0: off)')
    .option('--mtp-accept <n>', 'MTP: drafts accepted per step: all (default) or N in [0, K]')
    .option('--mtp-accept-rate <r>', 'MTP: accept a fraction r in [0, 1] of the drafts (a deterministic pattern with mean r)')
    .action(async (flags: RunFlags) => setCode(await run(flags)));
  cmd.command('models').description('list the preset models').action(() => setCode(models()));
  cmd.command('devices').description('list the devices this build can run on').action(() => setCode(devices()));
  return cmd;
}

function printError(message: string): void {
  process.stderr.write(`gpubench: error: ${oneLine(message)}\n`);
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  try {
    await program((c) => (code = c)).parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; a bare `gpubench` prints the help to stderr: a usage error.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        return e.exitCode === 0 ? 0 : 2;
      }
      // Commander's own messages start with 'error: '; say where help is.
      printError(`${e.message.replace(/^error:\s*/, '')} (see gpubench --help)`);
      return 2;
    }
    if (e instanceof UsageError) {
      printError(e.message);
      return 2;
    }
    if (e instanceof GpubenchError) {
      printError(flagMessage(e));
      return e.code === 'ERR_INVALID_ARGUMENT' || e.code === 'ERR_INVALID_CONFIG' ? 2 : 1;
    }
    printError(e instanceof Error ? e.message : String(e));
    return 1;
  }
}

// Run when executed (node dist/cli.js, npx gpubench), not when imported by tests.
const self = fileURLToPath(import.meta.url);
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(self)) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
