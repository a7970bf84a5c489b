// `gpubench models`, `gpubench devices` and `gpubench --version`: the presets, the devices this build
// can run on (the CPU included, after one line saying which addon binary was loaded and why), and
// what the loaded build is.
import { cpus } from 'node:os';
import Table from 'cli-table3';
import {
  backends, buildIdentity, cudaVersionText, describeAddon, formatParams, getAddon, gpubenchVersion, listDevices, listPresets, loadedAddon,
} from '../index.js';
import { COMPACT } from '../report/table.js';

export function models(): number {
  const t = new Table({ head: ['Name', 'Type', 'Params', 'Layers', 'Hidden', 'Heads (q/kv)', 'Description'], chars: COMPACT, style: { head: [], border: [] } });
  for (const p of listPresets()) {
    t.push([p.name, p.modelType, formatParams(p.params), String(p.numLayers), String(p.hiddenSize), `${p.numHeads}/${p.numKvHeads}`, p.description]);
  }
  process.stdout.write(t.toString() + '\n');
  return 0;
}

export function devices(): number {
  const addon = getAddon();
  process.stdout.write(`${describeAddon(loadedAddon())}\n`);
  const have = backends(addon);
  const all = listDevices(addon);
  const GiB = 1024 ** 3;
  const t = new Table({
    head: ['Device', 'Name', 'Memory (GiB)', 'Free (GiB)', 'Compute Capability', 'Driver', 'CUDA Runtime', 'SM Clock (MHz)', 'Threads'],
    chars: COMPACT,
    style: { head: [], border: [] },
  });
  const dash = (x: string | null | number) => (x === null || x === '' || x === 0 ? '-' : String(x));
  for (const d of all) {
    t.push([
      d.device, d.device === 'cpu' ? `${d.name}: ${cpus()[0]?.model.trim() ?? 'unknown model'}` : d.name, (d.totalBytes / GiB).toFixed(1), (d.freeBytes / GiB).toFixed(1), dash(d.computeCapability),
      dash(cudaVersionText(d.driverVersion)), dash(cudaVersionText(d.runtimeVersion)), dash(d.smClockMhz), dash(d.threads),
    ]);
  }
  process.stdout.write(t.toString() + '\n');
  process.stdout.write(`NCCL (--tp/--dp over several GPUs): ${addon.buildInfo().nccl}\n`);
  const cuda = all.filter((d) => d.device.startsWith('cuda'));
  if (!have.includes('cuda')) {
    process.stdout.write(`This build has no CUDA backend (backends: ${have.join(', ')}); gpubench runs on the CPU (--device cpu).\n`);
  } else if (cuda.length === 0) {
    process.stdout.write('This build has the CUDA backend, but no CUDA device is visible; gpubench runs on the CPU (--device cpu).\n');
  }
  return 0;
}

/** `gpubench --version`: the package version, and the commit and backends of the addon it loads. */
export function versionText(): string {
  let addon;
  try {
    addon = getAddon();
  } catch (e) {
    return `gpubench ${gpubenchVersion()} (native addon not loaded: ${(e as Error).message})`;
  }
  const id = buildIdentity(addon);
  return `gpubench ${id.version} (commit ${id.commit ?? 'unknown: not built from a git checkout'}; backends ${id.backends.join(', ')})`;
}
