// gpubench's public API. Everything a script or another tool needs: the two entry points, the engine
// for lower-level use (golden tests read logits through Engine.generate), model specs and presets,
// the cost model, the report formatters, and the error classes with their stable codes.
export { benchOneBatch, sweep, type SweepResult } from './api/bench.js';
export { Engine, DEFAULT_BLOCK_SIZE, type EngineOpenOptions, type EngineSizing, type GenerateOptions, type ResolvedTarget } from './bridge/engine.js';
export { toNative, routingToNative } from './bridge/wire.js';
export {
  resolveModel,
  normalizeConfig,
  presetNames,
  SUPPORTED_MODEL_TYPES,
  type ModelSpec,
  type ModelType,
  type RopeSpec,
  type NormalizeOptions,
} from './model/model-spec.js';
export { MOE_MODEL_TYPES, type MoeSpec } from './model/moe-spec.js';
export { MLA_FORMS, MLA_MODEL_TYPES, type MlaForm, type MlaSpec } from './model/mla-spec.js';
export { checkMtpModel, mtpContext, type MtpAccept } from './model/mtp.js';
export { parseMoeRouting, type MoeRouting } from './model/moe-routing.js';
export { listPresets, presetConfig, presetSpec, formatParams, type PresetInfo } from './model/presets.js';
export {
  expandGrid,
  gridPoints,
  DEFAULTS,
  MODES,
  PROFILES,
  isMoeRouting,
  MOE_ROUTING_ALLOWED,
  type BenchOptions,
  type SweepOptions,
  type GridPoint,
  type ProgressEvent,
  type Mode,
  type ProfileWhat,
} from './api/options.js';
export { OPTIONS, type OptionDecl, type OptionName, type FlagDecl } from './api/option-table.js';
export { FlagTextError, integerRanges } from './api/flag-text.js';
export { readGridFile, gridFilePoints, type GridFilePoints } from './api/grid-file.js';
export { layoutOf, checkModelLayout, checkPlacement, shardSpec, shardExpertCounts, engineParallel, engineGroups, SINGLE_RANK, type ParallelLayout, type LayoutOptions, type Placement } from './api/layout.js';
export { ranksFromEnv, deviceOfRank, cudaDeviceCount, firstSlurmHost, DEFAULT_MASTER_PORT, SINGLE_PROCESS, type LaunchRanks, type Launcher } from './api/ranks.js';
export { rendezvous, DEFAULT_RENDEZVOUS_TIMEOUT_MS, type RankGroup, type RendezvousOptions } from './api/rendezvous.js';
export { mergeRanks, combineOutcomes, type RankTimes, type RankOutcome, type MergedRanks } from './api/rank-merge.js';
export { agreeSizing, agreePoint, kvRefusal, type RankSizing, type LaunchSizing, type Refusal } from './api/rank-agree.js';
export { busFactor, collectiveSeconds, forwardCollectives, commCost, parallelFloorMs, type Collective, type CollectiveCall, type CommCost } from './api/comm-cost.js';
export { pointSettings, type PointResult, type PointFailure, type PointOutcome, type OpShare, type GemmAlgo } from './api/result.js';
export { summarizeTelemetry, CLOCK_EVENT_REASONS, THROTTLE_REASONS, type PointTelemetry, type Range } from './api/telemetry.js';
export { buildIdentity, canonicalJson, cudaVersionText, specHash, gpubenchVersion, type Provenance } from './api/provenance.js';
export { PEAK_MAX_ATTEMPTS, PEAK_TOLERANCE, type PeaksMeasurement } from './api/peaks.js';
export * as metrics from './api/metrics.js';
export type { Cost, Peaks, Stats } from './api/metrics.js';
export { makeInputIds } from './api/requests.js';
export { resolveDevice, listDevices, backends, getAddon } from './bridge/device.js';
export { loadedAddon } from './bridge/native.js';
export { describeAddon, type AddonChoice, type AddonSource } from './bridge/addon-loader.js';
export { toJsonlLine, appendJsonl } from './report/jsonl.js';
export { toCsvLine, csvHeader, appendCsv } from './report/csv.js';
export { FIELDS, SGLANG_FIELDS, PROVENANCE_FIELDS, toRecord } from './report/fields.js';
export { formatTables, formatDecodeTable, formatPrefillTable, formatRunHeader } from './report/table.js';
export {
  compareRuns,
  formatComparison,
  COMPARE_METRICS,
  DEFAULT_THRESHOLD_PCT,
  type CompareOptions,
  type CompareResult,
  type CompareMetric,
  type MetricChange,
  type PointComparison,
} from './views/compare.js';
export { readJsonl, parseJsonl, pointKey, type PointIdentity, type RunPoint, type TelemetrySample } from './views/read-jsonl.js';
export { writePlots, renderReport, reportHtml, type RenderedChart, type RenderedReport } from './views/plot.js';
export { reportCharts, type ChartSpec, type OmittedChart } from './views/chart-specs.js';
export { servingView, formatServing, DERIVED_NOTE, type ServingPoint, type ServingView } from './views/serving.js';
export { formatTablesMarkdown, markdownTable, type MarkdownOptions } from './views/markdown.js';
export { toResultFile, writeResultFile, resultFileJson, RESULT_FILE_VERSION, type ResultFile, type RunHeader, type RunSummary } from './views/json-file.js';
export { resultTables, breakdownTables, type ResultTable } from './report/table.js';
export * as errors from './base/errors.js';
export {
  GpubenchError,
  InvalidArgumentError,
  CallbackError,
  InvalidConfigError,
  DoesNotFitError,
  OutOfMemoryError,
  TimeoutError,
  AbortError,
  WeightsError,
  DeviceError,
  InternalError,
  fromNative,
  ERROR_CODES,
  type ErrorCode,
} from './base/errors.js';
export type {
  NativeAddon,
  NativeModelSpec,
  NativeEngineInfo,
  NativeDeviceInfo,
  NativeGenerateResult,
  NativeMtpOptions,
  NativeGenerateOptions,
  NativeMoeRouting,
  NativePeaks,
  NativePointResult,
  NativeOpBenchCase,
  NativeOpTiming,
  NativeGemmAlgo,
  PeakCalls,
} from './bridge/native.js';
