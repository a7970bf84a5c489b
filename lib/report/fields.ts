// One flat record per point, shared by the JSONL and CSV writers so both carry the same fields in the
// same order: sglang bench_one_batch's fields first (seconds and tokens/s, null for what the mode does
// not measure: prefill_* in decode mode, *_decode_* in prefill mode), then ours in snake_case.
import type { GemmAlgo, OpShare, PointOutcome } from '../api/result.js';
import type { PointTelemetry, Range, TelemetrySample } from '../api/telemetry.js';
import type { Provenance } from '../api/provenance.js';

export type FieldValue = string | number | boolean | null | string[] | number[] | TelemetrySample[];
export type PointRecord = Record<(typeof FIELDS)[number], FieldValue>;

export const SGLANG_FIELDS = [
  'run_name',
  'batch_size',
  'input_len',
  'output_len',
  'prefill_latency',
  'prefill_throughput',
  'median_decode_latency',
  'median_decode_throughput',
  'total_latency',
  'overall_throughput',
] as const;

/**
 * The point's provenance (lib/api/provenance.ts), flattened; what the record already has (model,
 * device, device_name, seed, dtype, the peak values) is not repeated.
 */
export const PROVENANCE_FIELDS = [
  'prov_version',
  'prov_commit',
  'prov_timestamp',
  'prov_host',
  'prov_node',
  'prov_backends',
  'prov_driver',
  'prov_cuda_runtime',
  'prov_compute_capability',
  'prov_sm_clock_mhz',
  'prov_mem_clock_mhz',
  'prov_clocks_source',
  'prov_cpu_model',
  'prov_cpu_threads',
  'prov_model_sha256',
  'prov_peaks_method',
  'prov_peaks_attempts',
  'prov_peaks_steady',
  'prov_peak_flops_spread',
  'prov_peak_bytes_spread',
  'prov_launcher',
  'prov_processes',
  'prov_rank',
] as const;

function provenanceFields(v: Provenance): Record<(typeof PROVENANCE_FIELDS)[number], FieldValue> {
  return {
    prov_version: v.gpubenchVersion,
    prov_commit: v.gitCommit,
    prov_timestamp: v.timestamp,
    prov_host: v.hostName,
    prov_node: v.nodeVersion,
    prov_backends: v.backends,
    prov_driver: v.driverVersion,
    prov_cuda_runtime: v.cudaRuntimeVersion,
    prov_compute_capability: v.computeCapability,
    prov_sm_clock_mhz: v.clocks.smMhz,
    prov_mem_clock_mhz: v.clocks.memMhz,
    prov_clocks_source: v.clocks.source,
    prov_cpu_model: v.cpuModel,
    prov_cpu_threads: v.cpuThreads,
    prov_model_sha256: v.modelSpecSha256,
    prov_peaks_method: v.peaks.method,
    prov_peaks_attempts: v.peaks.attempts,
    prov_peaks_steady: v.peaks.steady,
    prov_peak_flops_spread: v.peaks.spread.flopsPerS,
    prov_peak_bytes_spread: v.peaks.spread.bytesPerS,
    prov_launcher: v.layout.launcher,
    prov_processes: v.layout.processes,
    prov_rank: v.layout.rank,
  };
}

export const FIELDS = [
  ...SGLANG_FIELDS,
  'ok',
  'error_code',
  'error_message',
  'model',
  'model_type',
  'num_layers',
  'mode',
  'device',
  'device_name',
  'dtype',
  'seed',
  // The parallel layout (batch_size is per DP rank); estimate: simulateWorld's, not a measurement.
  'tp',
  'ep',
  'dp',
  'world',
  'estimate',
  'moe_routing',
  'mtp_drafts',
  'mtp_accept',
  'waiting_ms',
  'prefill_ms',
  'prefill_floor_ms',
  'prefill_ratio',
  'prefill_mfu',
  'prefill_mbu',
  'decode_steps',
  'accepted_per_step',
  'decode_median_ms',
  'decode_mean_ms',
  'decode_p90_ms',
  'decode_p99_ms',
  'decode_min_ms',
  'decode_max_ms',
  'decode_stddev_ms',
  'decode_floor_ms',
  'decode_floor_context',
  'decode_ratio',
  'decode_mfu',
  'decode_mbu',
  // The collectives of one forward (null with one rank) and each rank's own times (several processes).
  'bus_bandwidth_gbps',
  'prefill_comm_bytes',
  'prefill_comm_time_estimate_ms',
  'decode_comm_bytes',
  'decode_comm_time_estimate_ms',
  'rank_prefill_ms',
  'rank_decode_median_ms',
  'total_ms',
  'peak_flops_per_s',
  'peak_bytes_per_s',
  'peak_copy_calls',
  'peak_copy_min_ms',
  'peak_copy_median_ms',
  'peak_copy_max_ms',
  'peak_gemm_calls',
  'peak_gemm_min_ms',
  'peak_gemm_median_ms',
  'peak_gemm_max_ms',
  'gemm_algos',
  'used_graphs',
  'expert_counts',
  'kernel_paths',
  'mla_prefill_form',
  'mla_decode_form',
  'prefill_op_names',
  'prefill_op_ms',
  'decode_op_names',
  'decode_op_ms',
  'trace_files',
  'notes',
  // The timed pass's device telemetry (null with telemetry_reason saying why): each reading's
  // min/median/max, energy, and the samples themselves (JSONL only; the plot view draws them).
  'telemetry_reason',
  'sm_clock_mhz_min',
  'sm_clock_mhz_median',
  'sm_clock_mhz_max',
  'mem_clock_mhz_min',
  'mem_clock_mhz_median',
  'mem_clock_mhz_max',
  'power_w_min',
  'power_w_median',
  'power_w_max',
  'temp_c_min',
  'temp_c_median',
  'temp_c_max',
  'mem_used_bytes_min',
  'mem_used_bytes_median',
  'mem_used_bytes_max',
  'energy_j',
  'prefill_j_per_token',
  'decode_j_per_token',
  'throttled',
  'clock_event_reasons',
  'telemetry',
  ...PROVENANCE_FIELDS,
] as const;

const s = (ms: number | null | undefined): number | null => (ms === null || ms === undefined ? null : ms / 1000);

/** "MxNxK[ xbatch]: algo A tile T stages S splitK K ... (candidate c of n)": cuBLASLt's numbering. */
export function gemmAlgoText(g: GemmAlgo): string {
  const shape = `${g.m}x${g.n}x${g.k}${g.batch > 1 ? ` x${g.batch}` : ''}`;
  if (g.kernel === 'gpubench_small_m') return `${shape}: gpubench_small_m (candidate ${g.candidate} of ${g.candidates})`;
  return (
    `${shape}: algo ${g.algoId} tile ${g.tile} stages ${g.stages} splitK ${g.splitK} reduction ${g.reduction} ` +
    `swizzle ${g.swizzle} custom ${g.custom} inner ${g.innerShape} cluster ${g.clusterShape} ` +
    `(candidate ${g.candidate} of ${g.candidates})`
  );
}

const kernelPathList = (paths: Record<string, string>): string[] | null => {
  const list = Object.entries(paths).map(([op, path]) => `${op}:${path}`);
  return list.length > 0 ? list : null;
};
/** Per-rank times as a list (rank order); null with one rank or where a rank has none. */
const rankList = (xs: (number | null)[]): number[] | null => (xs.length > 0 && xs.every((x) => x !== null) ? (xs as number[]) : null);
const opNames = (ops: OpShare[]): string[] | null => (ops.length > 0 ? ops.map((o) => o.op) : null);
const opMs = (ops: OpShare[]): number[] | null => (ops.length > 0 ? ops.map((o) => o.msPerStep) : null);

export function toRecord(p: PointOutcome): PointRecord {
  const r = Object.fromEntries(FIELDS.map((f) => [f, null])) as PointRecord;
  Object.assign(r, {
    run_name: p.runName,
    batch_size: p.batchSize,
    input_len: p.inputLen,
    output_len: p.outputLen,
    ok: p.ok,
    model: p.model,
    model_type: p.modelType,
    num_layers: p.numLayers,
    mode: p.mode,
    device: p.device,
    seed: p.seed,
    tp: p.tp,
    ep: p.ep,
    dp: p.dp,
    world: p.world,
    estimate: p.estimate,
    moe_routing: p.routing,
    mtp_drafts: p.mtpDrafts,
    mtp_accept: p.mtpAccept,
    notes: p.notes,
  });
  if (p.provenance) Object.assign(r, provenanceFields(p.provenance));
  if (!p.ok) {
    r.error_code = p.error.code;
    r.error_message = p.error.message;
    r.trace_files = [];
    return r;
  }
  const d = p.decode;
  Object.assign(r, {
    prefill_latency: s(p.prefillMs),
    prefill_throughput: p.prefillTokPerS,
    median_decode_latency: s(d?.median),
    median_decode_throughput: p.decodeTokPerS,
    total_latency: s(p.totalMs),
    overall_throughput: p.overallTokPerS,
    device_name: p.deviceName,
    dtype: p.dtype,
    waiting_ms: p.waitingMs,
    prefill_ms: p.prefillMs,
    prefill_floor_ms: p.prefillFloorMs,
    prefill_ratio: p.prefillRatio,
    prefill_mfu: p.prefillMfu,
    prefill_mbu: p.prefillMbu,
    decode_steps: p.decodeStepMs.length,
    accepted_per_step: p.acceptedPerStep,
    decode_median_ms: d?.median ?? null,
    decode_mean_ms: d?.mean ?? null,
    decode_p90_ms: d?.p90 ?? null,
    decode_p99_ms: d?.p99 ?? null,
    decode_min_ms: d?.min ?? null,
    decode_max_ms: d?.max ?? null,
    decode_stddev_ms: d?.stddev ?? null,
    decode_floor_ms: p.decodeFloorMs,
    decode_floor_context: p.decodeFloorContext,
    decode_ratio: p.decodeRatio,
    decode_mfu: p.decodeMfu,
    decode_mbu: p.decodeMbu,
    bus_bandwidth_gbps: p.busBandwidthGBps,
    prefill_comm_bytes: p.prefillCommBytes,
    prefill_comm_time_estimate_ms: p.prefillCommTimeEstimateMs,
    decode_comm_bytes: p.decodeCommBytes,
    decode_comm_time_estimate_ms: p.decodeCommTimeEstimateMs,
    rank_prefill_ms: rankList(p.rankTimes.map((r) => r.prefillMs)),
    rank_decode_median_ms: rankList(p.rankTimes.map((r) => r.decodeMedianMs)),
    total_ms: p.totalMs,
    peak_flops_per_s: p.peaks.flopsPerS,
    peak_bytes_per_s: p.peaks.bytesPerS,
    peak_copy_calls: p.peaks.copyCalls?.count ?? null,
    peak_copy_min_ms: p.peaks.copyCalls?.minMs ?? null,
    peak_copy_median_ms: p.peaks.copyCalls?.medianMs ?? null,
    peak_copy_max_ms: p.peaks.copyCalls?.maxMs ?? null,
    peak_gemm_calls: p.peaks.gemmCalls?.count ?? null,
    peak_gemm_min_ms: p.peaks.gemmCalls?.minMs ?? null,
    peak_gemm_median_ms: p.peaks.gemmCalls?.medianMs ?? null,
    peak_gemm_max_ms: p.peaks.gemmCalls?.maxMs ?? null,
    used_graphs: p.usedGraphs,
    expert_counts: p.expertCounts.length > 0 ? p.expertCounts : null,
    gemm_algos: p.gemmAlgos.length > 0 ? p.gemmAlgos.map(gemmAlgoText) : null,
    // "op:path" per op family (e.g. "attention:general"); null where the backend has one path.
    kernel_paths: kernelPathList(p.kernelPaths),
    // MLA: 'absorbed' or 'decompressed', per phase; null for other models.
    mla_prefill_form: p.mlaPrefillForm,
    mla_decode_form: p.mlaDecodeForm,
    // The profiled pass's ms per forward by op kind, as two parallel lists so a CSV cell holds them.
    prefill_op_names: opNames(p.breakdown.prefill),
    prefill_op_ms: opMs(p.breakdown.prefill),
    decode_op_names: opNames(p.breakdown.decode),
    decode_op_ms: opMs(p.breakdown.decode),
    trace_files: p.traceFiles,
    telemetry_reason: p.telemetryReason,
  });
  if (p.telemetry) Object.assign(r, telemetryFields(p.telemetry));
  return r;
}

const RANGES = [
  ['sm_clock_mhz', 'smClockMhz'],
  ['mem_clock_mhz', 'memClockMhz'],
  ['power_w', 'powerW'],
  ['temp_c', 'tempC'],
  ['mem_used_bytes', 'memUsedBytes'],
] as const;

function telemetryFields(t: PointTelemetry): Partial<PointRecord> {
  const r: Partial<PointRecord> = {
    energy_j: t.energyJ,
    prefill_j_per_token: t.prefillJPerToken,
    decode_j_per_token: t.decodeJPerToken,
    throttled: t.throttled,
    clock_event_reasons: t.clockEventReasons,
    telemetry: t.samples,
  };
  for (const [field, key] of RANGES) {
    const range: Range | null = t[key];
    r[`${field}_min`] = range?.min ?? null;
    r[`${field}_median`] = range?.median ?? null;
    r[`${field}_max`] = range?.max ?? null;
  }
  return r;
}
