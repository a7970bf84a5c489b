// `gpubench models` and `gpubench devices`: the presets, and the devices this build can run on
// (after one line saying which addon binary was loaded and why).
import Table from 'cli-table3';
import { backends, describeAddon, formatParams, getAddon, listDevices, listPresets, loadedAddon } from '../index.js';
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
  const cuda = have.includes('cuda') ? listDevices(addon).filter((d) => d.device.startsWith('cuda')) : [];
  if (!have.includes('cuda')) {
    process.stdout.write(`This build has no CUDA backend (backends: ${have.join(', ')}); gpubench runs on the CPU (--device cpu).\n`);
    return 0;
  }
  if (cuda.length === 0) {
    process.stdout.write('This build has the CUDA backend, but no CUDA device is visible; gpubench runs on the CPU (--device cpu).\n');
    return 0;
  }
  const GiB = 1024 ** 3;
  const t = new Table({ head: ['Device', 'Name', 'Memory (GiB)', 'Free (GiB)', 'Compute Capability', 'Driver'], chars: COMPACT, style: { head: [], border: [] } });
  for (const d of cuda) {
    const driver = d.driverVersion > 0 ? `${Math.floor(d.driverVersion / 1000)}.${Math.floor((d.driverVersion % 1000) / 10)}` : '-';
    t.push([d.device, d.name, (d.totalBytes / GiB).toFixed(1), (d.freeBytes / GiB).toFixed(1), d.computeCapability, driver]);
  }
  process.stdout.write(t.toString() + '\n');
  return 0;
}
