// What `gpubench run --help` says after the flags: the default grid per device, and what each column
// of the result tables measures in each mode (as lib/api/result.ts computes it).
import { DEFAULT_RUN } from './run.js';

function grid(d: { model: string; batchSizes: number[]; inputLens: number[]; outputLens: number[] }): string {
  return `--model ${d.model} --batch ${d.batchSizes.join(',')} --input-len ${d.inputLens.join(',')} --output-len ${d.outputLens.join(',')}`;
}

export function runHelpText(): string {
  return `
Default grid (when --model, --batch, --input-len or --output-len is not given):
  cpu:   ${grid(DEFAULT_RUN.cpu)}
  cuda:  ${grid(DEFAULT_RUN.cuda)} (dummy weights)

Modes and the numbers in the tables:
  both      one prefill of the batch, then output_len - 1 decode steps (as sglang's bench_one_batch)
  prefill   one prefill forward (output_len is forced to 1)
  decode    no prefill: input_len tokens are counted as cached, then output_len decode steps
  Waiting Time(ms)   how long the scheduler waited for the batch's last request to arrive (not device time)
  Prefill Time(ms)   the timed prefill forward of the whole batch
  Decode Time(ms)    the mean decode step (Median Step and P90 Step beside it); each step emits one token
                     per request (with MTP: the accepted drafts + 1)
  tok/s              prefill: batch x input_len / prefill time; decode: batch x tokens per step / median step
  overall_throughput (JSONL) all tokens / (prefill + every decode step): mode both counts input and output
                     tokens, decode mode only the output, prefill mode the input and its one output token
  Floor(ms), Ratio   max(flops / GEMM peak, bytes / copy peak) with peaks measured in the same run; ratio =
                     time / floor; MFU and MBU = flops and bytes per time against the same peaks.
                     A ratio below 1x or a use above 100% is marked '!': the peak was measured low
                     (docs/design.md has the formulas)
  Comm Est.(ms)      several ranks (tp x dp > 1): the forward's collectives at --bus-bandwidth, else at the
                     bus the run measured; Floor(ms) is then rank 0's shard's plus it; Batch Size is per
                     DP rank and tok/s summed over the DP ranks; --simulate-world results are estimates
                     (the titles; estimate: true in the JSONL)

Exit codes: 0 every point ran and was saved; 1 some or all points failed (named on stderr) or an output
could not be written to the end; 2 usage (a bad flag or value, a missing weights file, an output path
that cannot be written); 130 interrupted (Ctrl-C).
`;
}
