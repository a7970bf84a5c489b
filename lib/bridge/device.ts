// Which addon and which device: loads the native addon (addon-loader.ts picks the binary) with an error
// that says how to build it, and turns 'auto' / 'cuda' / 'cuda:N' into the exact device string the
// addon takes, checked against what this build and this machine have.
import { loadAddon, type NativeAddon, type NativeDeviceInfo } from './native.js';
import { DeviceError, InvalidArgumentError, fromNative } from '../base/errors.js';

/** The given addon, or the one built for this package. */
export function getAddon(override?: NativeAddon): NativeAddon {
  if (override) return override;
  try {
    return loadAddon();
  } catch (e) {
    const first = String((e as Error)?.message ?? e).split('\n')[0];
    throw new DeviceError(`the gpubench native addon is not usable (${first}); build it: \`npm rebuild gpubench --foreground-scripts\` where gpubench is a dependency, \`npm run build:native\` in its own checkout`, { cause: e });
  }
}

export function backends(addon: NativeAddon): string[] {
  try {
    return addon.backends();
  } catch (e) {
    throw fromNative(e);
  }
}

/** Devices the addon sees (CUDA devices on a CUDA build; possibly none). */
export function listDevices(addon: NativeAddon): NativeDeviceInfo[] {
  try {
    return addon.listDevices();
  } catch (e) {
    throw fromNative(e);
  }
}

function cudaDevices(addon: NativeAddon): NativeDeviceInfo[] {
  if (!backends(addon).includes('cuda')) return [];
  return listDevices(addon).filter((d) => d.device.startsWith('cuda'));
}

/**
 * 'auto' → 'cuda:0' when this build has the CUDA backend and sees a device, else 'cpu';
 * 'cuda' → 'cuda:0'. A CUDA device this build or machine does not have is a bad value of the
 * `device` option (InvalidArgumentError naming what is allowed here).
 */
export function resolveDevice(addon: NativeAddon, device: string): string {
  if (device === 'cpu') return 'cpu';
  const cuda = cudaDevices(addon);
  if (device === 'auto') return cuda.length > 0 ? (cuda[0] as NativeDeviceInfo).device : 'cpu';
  const want = device === 'cuda' ? 'cuda:0' : device;
  if (!/^cuda:\d+$/.test(want)) {
    throw new InvalidArgumentError(`device: '${device}' is not allowed (allowed: auto, cpu, cuda, cuda:N)`, {
      field: 'device',
      allowed: 'auto, cpu, cuda, cuda:N',
    });
  }
  if (cuda.some((d) => d.device === want)) return want;
  const here = ['auto', 'cpu', ...(cuda.length ? ['cuda', ...cuda.map((d) => d.device)] : [])].join(', ');
  const why = backends(addon).includes('cuda')
    ? cuda.length === 0
      ? 'no CUDA device is visible'
      : `there is no ${want}`
    : 'this build has no CUDA backend';
  throw new InvalidArgumentError(`device: '${device}' is not available: ${why} (allowed here: ${here})`, {
    field: 'device',
    allowed: here,
  });
}
