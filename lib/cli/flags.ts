// The run command's flags, derived from the option table (lib/api/option-table.ts): each option's
// flag name, placeholder, help and default come from its one declaration, and so does FLAG_OF, which
// turns an API error about an option into one about its flag.
import { Option, type Command } from 'commander';
import { DEFAULTS, FlagTextError, OPTIONS, type FlagDecl, type GpubenchError, type OptionName } from '../index.js';
import { oneLine } from '../report/table.js';
import { UsageError } from './usage-error.js';

type Flagged = { [K in OptionName]: (typeof OPTIONS)[K] extends { flag: FlagDecl } ? K : never }[OptionName];

/** How `run` prints its result tables (--format): the terminal's tables or markdown. */
export const FORMATS = ['table', 'md'] as const;
export type Format = (typeof FORMATS)[number];

/**
 * Flags that are no option of the API: what the CLI writes and prints (report files, the tables'
 * format), which sweep() never sees, and the rate spelling of --mtp-accept. [flag, help, default]
 */
const CLI_ONLY: Record<string, readonly [string, string, string?]> = {
  saveJsonl: ['--save-jsonl <file>', 'append one JSON line per point (sglang field names; default: none)'],
  saveCsv: ['--save-csv <file>', 'append one CSV row per point (same fields; default: none)'],
  resume: ['--resume', "skip the points --save-jsonl's file holds measured (ok); run the rest (default: off)"],
  saveJson: ['--save-json <file>', 'write the run as one JSON file: a run header and the points (same fields; default: none)'],
  format: ['--format <fmt>', `${FORMATS.join(' | ')}: how the result tables print`, 'table'],
  json: ['--json', 'print the results as JSON lines on stdout (the --save-jsonl fields); the tables go to stderr (default: off)'],
  quiet: ['--quiet', 'no progress (a bar on a terminal, else a line per point) and no tables; warnings and errors still print (default: off)'],
  mtpAcceptRate: ['--mtp-accept-rate <r>', 'MTP: accept a fraction r in [0, 1] of the drafts (a deterministic pattern with mean r; default: none, --mtp-accept all)'],
};

/** The order of the run command's help. */
const HELP_ORDER: readonly (Flagged | 'saveJsonl' | 'saveCsv' | 'resume' | 'saveJson' | 'format' | 'json' | 'quiet' | 'mtpAcceptRate')[] = [
  'model', 'batchSizes', 'inputLens', 'outputLens', 'points', 'mode', 'device', 'layers', 'seed', 'runName', 'weightsPath',
  'saveJsonl', 'saveCsv', 'resume', 'saveJson', 'format', 'json', 'quiet', 'profile', 'profileDecodeSteps', 'outDir', 'useGraphs', 'batchTimeoutMs', 'kvPoolTokens',
  'threads', 'moeRouting', 'mtpDrafts', 'mtpAccept', 'mtpAcceptRate', 'mlaPrefill', 'tp', 'ep', 'dp', 'simulateWorld', 'busBandwidth',
];

const FLAGGED = (Object.keys(OPTIONS) as OptionName[]).filter((k): k is Flagged => 'flag' in OPTIONS[k]);

function flagOf(name: Flagged): FlagDecl {
  return OPTIONS[name].flag;
}

function commanderOption(name: Flagged): Option {
  const f = flagOf(name);
  const opt = new Option(f.arg !== undefined ? `${f.name} ${f.arg}` : f.name, f.help);
  return f.showDefault ? opt.default(String(DEFAULTS[name as keyof typeof DEFAULTS])) : opt;
}

/** Option name → its flag ('batchSizes' → '--batch'). */
export const FLAG_OF: Readonly<Record<string, string>> = Object.fromEntries(FLAGGED.map((k) => [k, flagOf(k).name]));

/** Adds every flag of the run command, in help order. */
export function addRunFlags(cmd: Command): Command {
  for (const name of HELP_ORDER) {
    const cliOnly = CLI_ONLY[name];
    const opt = cliOnly ? new Option(cliOnly[0], cliOnly[1]) : commanderOption(name as Flagged);
    cmd.addOption(cliOnly?.[2] !== undefined ? opt.default(cliOnly[2]) : opt);
  }
  return cmd;
}

export type RunFlags = Record<string, string | boolean | undefined>;

/**
 * The option values the flags give (absent where the flag was not given and has no default shown),
 * each flag's text read by its table entry; a bad text is a UsageError naming the flag.
 */
export function optionValues(flags: RunFlags): Partial<Record<Flagged, unknown>> {
  const values: Partial<Record<Flagged, unknown>> = {};
  for (const name of FLAGGED) {
    const f = flagOf(name);
    const raw = flags[commanderOption(name).attributeName()];
    if (raw === undefined) continue;
    // A negated flag is commander's boolean; a flag without a text reader is read by its command.
    if (typeof raw === 'boolean') {
      values[name] = raw;
      continue;
    }
    if (f.text === undefined) continue;
    try {
      values[name] = f.text(raw);
    } catch (e) {
      if (!(e instanceof FlagTextError)) throw e;
      throw new UsageError(`${f.name}: '${raw}' is not allowed (allowed: ${e.allowed})`);
    }
  }
  return values;
}

/** --format's text, checked before the addon loads (a bad one is exit 2). */
export function formatOf(flags: RunFlags): Format {
  const text = String(flags.format ?? 'table');
  if (!(FORMATS as readonly string[]).includes(text)) {
    throw new UsageError(`--format: '${text}' is not allowed (allowed: ${FORMATS.join(', ')})`);
  }
  return text as Format;
}

/** API text with each backquoted option name (`batchSizes`) replaced by its flag (--batch). */
export function flagText(text: string): string {
  return text.replace(/`(\w+)`/g, (quoted, name: string) => FLAG_OF[name] ?? quoted);
}

/** A GpubenchError about an option, with the option's name replaced by its flag. */
export function flagMessage(e: GpubenchError): string {
  const flag = e.field !== undefined ? FLAG_OF[e.field] : undefined;
  const msg = flagText(oneLine(e.message));
  return flag && e.field !== undefined && msg.startsWith(`${e.field}:`) ? flag + msg.slice(e.field.length) : msg;
}
