// gpubench's public API. Everything a script or another tool needs: the two entry points, the engine
// for lower-level use (golden tests read logits through Engine.generate), model specs and presets,
// the cost model, the report formatters, and the error classes with their stable codes.
export { benchOneBatch, sweep, type SweepResult } from './bench.js';
export { Engine, DEFAULT_BLOCK_SIZE, type EngineOpenOptions } from './engine.js';
export {
  resolveModel,
  normalizeConfig,
  toNative,
  presetNames,
  SUPPORTED_MODEL_TYPES,
  type ModelSpec,
  type ModelType,
  type RopeSpec,
  type NormalizeOptions,
} from './model-spec.js';
export { MOE_MODEL_TYPES, type MoeSpec } from './moe-spec.js';
export { MLA_MODEL_TYPES, type MlaSpec } from './mla-spec.js';
export { acceptedDrafts, mtpContext, type MtpAccept } from './mtp.js';
export { listPresets, presetConfig, presetSpec, formatParams, type PresetInfo } from './presets.js';
export {
  expandGrid,
  DEFAULTS,
  MODES,
  PROFILES,
  isMoeRouting,
  type BenchOptions,
  type SweepOptions,
  type GridPoint,
  type ProgressEvent,
  type Mode,
  type ProfileWhat,
} from './options.js';
export type { PointResult, PointFailure, PointOutcome, OpShare } from './result.js';
export * as metrics from './metrics.js';
export type { Cost, Peaks, Stats } from './metrics.js';
export { makeInputIds } from './requests.js';
export { resolveDevice, listDevices, backends, getAddon } from './device.js';
export { toJsonlLine, appendJsonl } from './report/jsonl.js';
export { toCsvLine, csvHeader, appendCsv } from './report/csv.js';
export { FIELDS, SGLANG_FIELDS, toRecord } from './report/fields.js';
export { formatTables, formatDecodeTable, formatPrefillTable, formatRunHeader } from './report/table.js';
export * as errors from './errors.js';
export {
  GpubenchError,
  InvalidArgumentError,
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
} from './errors.js';
export type {
  NativeAddon,
  NativeModelSpec,
  NativeEngineInfo,
  NativeDeviceInfo,
  NativeGenerateResult,
  NativeMtpOptions,
  NativeGenerateOptions,
  NativePeaks,
  NativePointResult,
  NativeOpBenchCase,
  NativeOpTiming,
  NativeGemmAlgo,
  PeakCalls,
} from './native.js';
