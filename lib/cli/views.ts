// The view subcommands over saved JSONL (compare, plot, serving), from lib/views/ through the package
// entry. Bad input throws InvalidArgumentError, which main() prints as one line with exit code 2.
import type { Command } from 'commander';
import {
  DEFAULT_THRESHOLD_PCT,
  InvalidArgumentError,
  compareRuns,
  formatComparison,
  formatServing,
  readJsonl,
  servingView,
  writePlots,
} from '../index.js';

/** '3%', '3' or '0.5%' → percent. */
function thresholdPct(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  if (!m) throw new InvalidArgumentError(`--threshold: '${text}' is not allowed (allowed: a percentage >= 0, e.g. 3%)`);
  return Number(m[1]);
}

export function addViewCommands(program: Command, setCode: (code: number) => void): void {
  program
    .command('compare')
    .description('compare two runs point by point; exit 1 when a point regressed')
    .argument('<base>', 'JSONL of the base run')
    .argument('<new>', 'JSONL of the new run')
    .option('--threshold <pct>', 'a step time or tok/s worse by more than this is a regression', `${DEFAULT_THRESHOLD_PCT}%`)
    .action((base: string, next: string, flags: { threshold: string }) => {
      const threshold = thresholdPct(flags.threshold);
      const r = compareRuns(readJsonl(base), readJsonl(next), { thresholdPct: threshold });
      process.stdout.write(formatComparison(r) + '\n');
      setCode(r.regressions > 0 ? 1 : 0);
    });
  program
    .command('plot')
    .description('charts of a run: an HTML report (inline SVG, opens offline) or SVG files')
    .argument('<results>', 'JSONL of the run')
    .requiredOption('-o, --output <file>', 'report.html, or name.svg (one SVG per chart: name-<chart>.svg)')
    .action(async (results: string, flags: { output: string }) => {
      const written = await writePlots(readJsonl(results), flags.output);
      process.stderr.write(`gpubench: wrote ${written.join(', ')}\n`);
      setCode(0);
    });
  program
    .command('serving')
    .description('serving metrics (TTFT, TPOT, ITL, E2E) and the throughput Pareto frontier, derived from a sweep')
    .argument('<results>', 'JSONL of the run')
    .action((results: string) => {
      process.stdout.write(formatServing(servingView(readJsonl(results))) + '\n');
      setCode(0);
    });
}
