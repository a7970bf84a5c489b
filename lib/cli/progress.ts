// A sweep's progress on stderr: on a terminal, a bar (cli-progress) with the points done, the
// running point, its phase and step, and an ETA, with each finished point's line printed above it;
// elsewhere (a pipe, a CI log) one plain line per finished point with the ETA; nothing with --quiet.
import { MultiBar, type SingleBar } from 'cli-progress';
import type { ProgressEvent } from '../index.js';

export interface ProgressStream {
  write(text: string): boolean;
  isTTY?: boolean;
}

export interface SweepProgress {
  /** A native progress event of the running point. */
  update(p: ProgressEvent): void;
  /** A point finished: its line (without newline). */
  pointDone(line: string): void;
  /** Removes the bar (before the tables or an error are printed). */
  stop(): void;
}

/** 42s, 3m05s, 1h02m. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The time the rest of the sweep takes if each remaining point takes what the finished ones took
 * on average; '?' before one has finished.
 */
export function eta(elapsedMs: number, done: number, total: number): string {
  return done === 0 ? '?' : formatDuration((elapsedMs / done) * (total - done));
}

const QUIET: SweepProgress = { update: () => {}, pointDone: () => {}, stop: () => {} };

export function sweepProgress(count: number, opts: { quiet: boolean; stream?: ProgressStream; now?: () => number }): SweepProgress {
  if (opts.quiet) return QUIET;
  const stream = opts.stream ?? process.stderr;
  const now = opts.now ?? Date.now;
  // From the first point's first event: opening the engine and measuring peaks are not per point.
  let t0: number | undefined;
  let done = 0;
  const etaText = () => eta(now() - (t0 ?? now()), done, count);
  if (!stream.isTTY) {
    return {
      update: () => {
        t0 ??= now();
      },
      pointDone: (line) => {
        done++;
        stream.write(`${line}${done < count ? ` (ETA ${etaText()})` : ''}\n`);
      },
      stop: () => {},
    };
  }
  const bars = new MultiBar({
    stream: stream as NodeJS.WritableStream,
    format: '{bar} {value}/{total} points | {point} | {phase} {step}/{steps} | ETA {remaining}',
    hideCursor: true,
    clearOnComplete: true,
    // The run's own Ctrl-C handler stops the bar and reports what was measured.
    gracefulExit: false,
  });
  const bar: SingleBar = bars.create(count, 0, { point: '', phase: 'starting', step: 0, steps: 0, remaining: '?' });
  // After stop() (Ctrl-C, an error), finished points print as plain lines and the bar stays away.
  let stopped = false;
  return {
    update: (p) => {
      t0 ??= now();
      if (stopped) return;
      const point = `bs=${p.point.batchSize} in=${p.point.inputLen} out=${p.point.outputLen}`;
      bar.update(done, { point, phase: p.phase, step: p.step, steps: p.totalSteps, remaining: etaText() });
    },
    pointDone: (line) => {
      done++;
      if (stopped) {
        stream.write(`${line}\n`);
        return;
      }
      bars.log(`${line}\n`);
      bar.update(done, { remaining: etaText() });
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      // stop() alone drops lines logged since the last redraw: redraw first.
      bars.update();
      bars.stop();
    },
  };
}
