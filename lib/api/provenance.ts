// Where a result came from, gathered once per sweep and attached to every point: which gpubench
// (version, the commit the addon was built from), when and on which host, the device and its
// software (driver, CUDA runtime, compute capability, rated clocks; CPU model and threads), which
// model exactly (a hash of the resolved spec), the seed, the dtype, and how the peaks were measured.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeAddon, NativeDeviceInfo, NativeEngineInfo } from '../bridge/native.js';
import type { ModelSpec } from '../model/model-spec.js';
import type { PeaksMeasurement } from './peaks.js';
import type { ParallelLayout } from './layout.js';
import type { Launcher, LaunchRanks } from './ranks.js';

/** The parallel layout a run had, and the launch that ran it. */
export interface ProvenanceLayout {
  tp: number;
  ep: number;
  dp: number;
  world: number;
  /** simulateWorld: rank 0's shard measured, the collectives' time estimated. */
  estimate: boolean;
  /** What started the processes ('none': one process). */
  launcher: Launcher;
  processes: number;
  /** The rank whose provenance this is (rank 0's for merged results). */
  rank: number;
}

export interface Provenance {
  gpubenchVersion: string;
  /** The commit the loaded addon was built from (with '-dirty' for uncommitted changes); null outside a checkout. */
  gitCommit: string | null;
  /** Backends compiled into the loaded addon. */
  backends: string[];
  /** When the sweep started (ISO 8601, UTC). */
  timestamp: string;
  hostName: string;
  nodeVersion: string;
  device: string;
  deviceName: string;
  /** CUDA driver and runtime versions ('12.8'), compute capability ('9.0'); null on the CPU. */
  driverVersion: string | null;
  cudaRuntimeVersion: string | null;
  computeCapability: string | null;
  /** Clocks at the start of the sweep; null where the backend cannot read them, with the reason. */
  clocks: { smMhz: number | null; memMhz: number | null; source: string };
  /** The host CPU's model (os.cpus()) and the engine's worker threads; null on a GPU. */
  cpuModel: string | null;
  cpuThreads: number | null;
  model: string;
  /** sha256 of the canonical JSON (keys sorted) of the resolved ModelSpec. */
  modelSpecSha256: string;
  seed: number;
  dtype: 'f32' | 'bf16';
  peaks: PeaksMeasurement;
  layout: ProvenanceLayout;
}

/** JSON with every object's keys sorted, so equal specs give equal text whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function specHash(spec: ModelSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

let version: string | undefined;

/** package.json's version; this file is lib/api/ or dist/api/, two below the package root. */
export function gpubenchVersion(): string {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  version ??= (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/** 12080 → '12.8' (CUDA's encoding: 1000 × major + 10 × minor). */
export function cudaVersionText(v: number): string | null {
  return v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : null;
}

/** The loaded addon's identity: the commit it was built from (null outside a checkout) and its backends. */
export function buildIdentity(addon: NativeAddon): { version: string; commit: string | null; backends: string[] } {
  const b = addon.buildInfo();
  return { version: gpubenchVersion(), commit: b.commit === 'unknown' ? null : b.commit, backends: b.backends };
}

function clocksOf(d: NativeDeviceInfo, cpu: boolean): Provenance['clocks'] {
  if (cpu) return { smMhz: null, memMhz: null, source: 'not read on the CPU (the CPU backend has no clock query)' };
  if (d.smClockMhz <= 0) return { smMhz: null, memMhz: null, source: 'not reported by the CUDA runtime' };
  return { smMhz: d.smClockMhz, memMhz: d.memClockMhz > 0 ? d.memClockMhz : null, source: 'rated maxima (cudaDevAttrClockRate, cudaDevAttrMemoryClockRate)' };
}

export interface ProvenanceInputs {
  addon: NativeAddon;
  info: NativeEngineInfo;
  spec: ModelSpec;
  seed: number;
  peaks: PeaksMeasurement;
  startedAt: Date;
  layout: ParallelLayout;
  launch: LaunchRanks;
}

export function gatherProvenance({ addon, info, spec, seed, peaks, startedAt, layout, launch }: ProvenanceInputs): Provenance {
  const d = info.deviceInfo;
  const cpu = info.device === 'cpu';
  const id = buildIdentity(addon);
  return {
    gpubenchVersion: id.version,
    gitCommit: id.commit,
    backends: id.backends,
    timestamp: startedAt.toISOString(),
    hostName: hostname(),
    nodeVersion: process.version,
    device: info.device,
    deviceName: info.deviceName,
    driverVersion: cudaVersionText(d.driverVersion),
    cudaRuntimeVersion: cudaVersionText(d.runtimeVersion),
    computeCapability: d.computeCapability || null,
    clocks: clocksOf(d, cpu),
    cpuModel: cpu ? (cpus()[0]?.model.trim() ?? null) : null,
    cpuThreads: cpu ? d.threads : null,
    model: spec.name,
    modelSpecSha256: specHash(spec),
    seed,
    dtype: info.dtype,
    peaks,
    layout: {
      tp: layout.tp, ep: layout.ep, dp: layout.dp, world: layout.world, estimate: layout.simulated,
      launcher: launch.launcher, processes: launch.world, rank: launch.rank,
    },
  };
}
