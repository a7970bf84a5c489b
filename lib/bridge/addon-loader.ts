// Which addon binary a package root loads: its local build (build/Release) if present, else the CUDA
// prebuild where it loads and the NVIDIA driver it needs is present, else the CPU prebuild. Every
// choice carries why, for `gpubench devices` and the install hook. node-gyp-build finds the local
// build and the CPU prebuild; it knows no GPU variants, so the CUDA prebuild sits in a subfolder
// (prebuilds/<platform>-<arch>/cuda/) that node-gyp-build never looks into.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export type AddonSource = 'local build' | 'CUDA prebuild' | 'CPU prebuild';

export interface AddonChoice<T> {
  addon: T;
  /** The loaded file, relative to the package root. */
  file: string;
  source: AddonSource;
  /** Why this one: e.g. 'NVIDIA driver 580.65.06 found' or why the CUDA prebuild was not used. */
  why: string;
}

/** prebuilds/<platform>-<arch>/cuda/gpubench.json, written beside the CUDA prebuild by scripts/prebuild.mjs. */
export interface CudaPrebuildManifest {
  /** Toolkit it was built with, e.g. '13.0'. */
  cudaVersion: string;
  /** Oldest NVIDIA driver (major) that runs that toolkit's code. */
  minDriver: number;
  /** CMAKE_CUDA_ARCHITECTURES of the build, e.g. '80;89;90a'. */
  architectures: string;
}

/** What the machine offers; real by default, replaceable so the selection can be tested off a GPU machine. */
export interface MachineProbes {
  /** The loaded NVIDIA kernel driver's version, undefined where none is loaded. */
  driverVersion(): string | undefined;
}

const requireHere = createRequire(import.meta.url);
const DRIVER_VERSION_FILE = '/proc/driver/nvidia/version';

export const realProbes: MachineProbes = {
  driverVersion() {
    if (!existsSync(DRIVER_VERSION_FILE)) return undefined;
    return /Module\b.*?\s(\d+\.\d+(?:\.\d+)?)\s/.exec(readFileSync(DRIVER_VERSION_FILE, 'utf8'))?.[1] ?? 'unknown';
  },
};

export function platformDir(): string {
  return `${process.platform}-${process.arch}`;
}

export function cudaPrebuildFile(root: string): string {
  return path.join(root, 'prebuilds', platformDir(), 'cuda', 'gpubench.node');
}

export function cudaManifestFile(root: string): string {
  return path.join(path.dirname(cudaPrebuildFile(root)), 'gpubench.json');
}

/**
 * A dlopen failure as one line that says what to install: a missing shared library becomes
 * "libcublasLt.so.13 not found — install the CUDA 13 runtime libraries …"; anything else keeps
 * the loader's first line.
 */
export function explainLoadError(e: unknown, manifest?: CudaPrebuildManifest): string {
  const first = String((e as Error)?.message ?? e).split('\n')[0] ?? '';
  const missing = /([^\s/:]+\.so[.\d]*): cannot open shared object file/.exec(first)?.[1];
  if (!missing) return first;
  const major = manifest?.cudaVersion.split('.')[0];
  const runtime = major ? `the CUDA ${major} runtime libraries` : 'the CUDA runtime libraries';
  return `${missing} not found — install ${runtime} (cudart, cuBLASLt, CUPTI) or add their folder to LD_LIBRARY_PATH`;
}

function readManifest(root: string): CudaPrebuildManifest | undefined {
  const file = cudaManifestFile(root);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as CudaPrebuildManifest) : undefined;
}

function backendsOf(addon: unknown): string[] {
  return (addon as { backends?: () => string[] }).backends?.() ?? [];
}

// What lib/bridge/native.ts calls on the addon. A binary from an older gpubench (a prebuild left in
// a checkout that was packed, an old build/) lacks some of it and would fail mid-run, after the
// peaks; refusing it at load lets the install hook build from source instead.
const ADDON_EXPORTS = ['Engine', 'backends', 'listDevices', 'buildInfo'] as const;

/** Why `addon` (loaded from `file`) is not this package's addon, or undefined when it is. */
export function staleAddonReason(addon: unknown, file: string): string | undefined {
  const missing = ADDON_EXPORTS.filter((name) => typeof (addon as Record<string, unknown>)[name] !== 'function');
  if (missing.length === 0) return undefined;
  return `${file} was built from an older gpubench (it lacks ${missing.join(', ')}): rebuild it (\`npm rebuild gpubench --foreground-scripts\` where gpubench is a dependency, \`npm run compile\` in its checkout)`;
}

/** requireHere(file), refused with a one-line reason when it is not this package's addon. */
function loadCurrent<T>(root: string, file: string, manifest?: CudaPrebuildManifest): T {
  let addon: T;
  try {
    addon = requireHere(file) as T;
  } catch (e) {
    throw new Error(`${path.relative(root, file)} does not load: ${explainLoadError(e, manifest)}`);
  }
  const stale = staleAddonReason(addon, path.relative(root, file));
  if (stale) throw new Error(stale);
  return addon;
}

/** The CUDA prebuild, loaded, or why it cannot be used here. */
function tryCudaPrebuild<T>(root: string, probes: MachineProbes): { addon: T; why: string } | { reason: string } {
  const file = cudaPrebuildFile(root);
  if (!existsSync(file)) return { reason: 'this package has no CUDA prebuild' };
  const manifest = readManifest(root);
  const driver = probes.driverVersion();
  if (driver === undefined) return { reason: `no NVIDIA driver is loaded (${DRIVER_VERSION_FILE} is absent)` };
  const driverMajor = Number.parseInt(driver, 10);
  if (manifest && driverMajor < manifest.minDriver) {
    return { reason: `NVIDIA driver ${driver} is older than ${manifest.minDriver}, which CUDA ${manifest.cudaVersion} needs — update the driver` };
  }
  let addon: T;
  try {
    addon = requireHere(file) as T;
  } catch (e) {
    return { reason: explainLoadError(e, manifest) };
  }
  const stale = staleAddonReason(addon, path.relative(root, file));
  if (stale) return { reason: stale };
  if (!backendsOf(addon).includes('cuda')) return { reason: `${path.relative(root, file)} has no CUDA backend` };
  return { addon, why: `NVIDIA driver ${driver} found` };
}

/** The addon this package root should run on this machine, or a one-line error saying what is missing. */
export function selectAddon<T>(root: string, probes: MachineProbes = realProbes): AddonChoice<T> {
  const nodeGypBuild = requireHere('node-gyp-build') as { resolve(dir: string): string };
  let found: string | undefined;
  try {
    found = nodeGypBuild.resolve(root);
  } catch {
    found = undefined;
  }
  const rel = (file: string) => path.relative(root, file);
  if (found && !rel(found).startsWith('prebuilds')) {
    return { addon: loadCurrent<T>(root, found), file: rel(found), source: 'local build', why: localBuildWhy(root) };
  }
  const cuda = tryCudaPrebuild<T>(root, probes);
  if ('addon' in cuda) return { addon: cuda.addon, file: rel(cudaPrebuildFile(root)), source: 'CUDA prebuild', why: cuda.why };
  if (!found) {
    throw new Error(`no build/Release/gpubench.node and no prebuild for ${platformDir()} in ${root} (${cuda.reason})`);
  }
  const why = `CUDA prebuild not used: ${cuda.reason}`;
  return { addon: loadCurrent<T>(root, found), file: rel(found), source: 'CPU prebuild', why };
}

/** The install hook's outcome line (the last line of build/install.log) where the build came from it. */
function localBuildWhy(root: string): string {
  const log = path.join(root, 'build', 'install.log');
  if (!existsSync(log)) return 'build/Release is present';
  const last = readFileSync(log, 'utf8').trimEnd().split('\n').pop() ?? '';
  return last.startsWith('gpubench: ') ? `install: ${last.slice('gpubench: '.length)}` : 'build/Release is present';
}

/** One line for `gpubench devices`: which binary and why. */
export function describeAddon(choice: AddonChoice<unknown>): string {
  return `addon: ${choice.file} (${choice.source}; ${choice.why})`;
}
