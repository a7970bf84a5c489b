// The gpubench command. Exit codes: 0 every point ran and every output was written; 1 some or all
// points failed (named on stderr), an output could not be written to the end, or the run failed; 2
// usage: a bad flag or value, a missing weights file, an output path that cannot be written (one
// line on stderr, before anything runs); 130 interrupted (Ctrl-C), after printing what was measured.
// It goes through the package's public API (lib/index.ts) and prints with lib/report/.
import { Command, CommanderError } from 'commander';
import { GpubenchError } from '../index.js';
import { oneLine } from '../report/table.js';
import { addRunFlags, flagMessage, type RunFlags } from './flags.js';
import { addLaunchCommand } from './launch.js';
import { devices, models, versionText } from './lists.js';
import { run } from './run.js';
import { runHelpText } from './run-help.js';
import { UsageError } from './usage-error.js';
import { addViewCommands } from './views.js';

function program(setCode: (code: number) => void): Command {
  const cmd = new Command('gpubench')
    .description('LLM inference microbenchmark: prefill and decode forward passes over a grid of batch sizes and sequence lengths')
    .exitOverride()
    .configureOutput({ outputError: () => {} }) // errors are printed once, in main()
    // Not commander's .version(text): the commit and backends are the loaded addon's, read only when asked.
    .option('-V, --version', 'print the version, the commit and the backends of the loaded addon')
    .on('option:version', () => {
      process.stdout.write(versionText() + '\n');
      throw new CommanderError(0, 'commander.version', '');
    });
  addRunFlags(cmd.command('run').description('run a sweep (batch × input × output) and print the result tables'))
    .addHelpText('after', runHelpText())
    .action(async (flags: RunFlags) => setCode(await run(flags)));
  cmd.command('models').description('list the preset models').action(() => setCode(models()));
  cmd.command('devices').description('list the devices this build can run on').action(() => setCode(devices()));
  addViewCommands(cmd, setCode);
  addLaunchCommand(cmd, setCode);
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
