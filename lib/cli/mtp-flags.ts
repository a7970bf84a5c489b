// --mtp-accept all|N or --mtp-accept-rate r: one of them, only with --mtp-drafts K > 0, N at most K.
// These bounds depend on another flag, so they are checked here, not by the flag's text reader.
import type { MtpAccept } from '../index.js';
import { UsageError } from './usage-error.js';

export function mtpAcceptOf(n: string | undefined, rate: string | undefined, drafts: number): MtpAccept | undefined {
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
