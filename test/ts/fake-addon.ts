// A stand-in for the native addon that follows lib/bridge/native.ts's contract: the scheduler waits for
// batchSize submitted requests (or times out), refuses a point whose KV does not fit, honours
// cancel(), and returns synthetic but consistent timings. It lets the protocol of lib/api/bench.ts be
// tested without a build; the real addon is exercised by test/ts/cli.test.ts and the native tests.
import type {
  NativeAddon,
  NativeEngine,
  NativeEngineOptions,
  NativePointOptions,
  NativePointResult,
  NativeProgress,
} from '../../lib/bridge/native.js';

export interface FakeLog {
  events: string[];
  engines: FakeEngine[];
}

function err(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class FakeEngine implements NativeEngine {
  queue: { id: number; inputIds: Int32Array }[] = [];
  submitted: { id: number; inputIds: Int32Array }[] = [];
  closed = false;
  cancelled = false;
  peaksCalls = 0;
  private wake: (() => void) | undefined;

  opened = false;
  /** KV tokens granted: the real engine caps the pool to device memory, the fake to `capKvTokens`. */
  readonly kvTokens: number;

  constructor(
    readonly opts: NativeEngineOptions,
    private readonly log: FakeLog,
    private readonly stepMs: (b: number, ctx: number) => number,
    capKvTokens = Infinity,
    private readonly wallMs = 0,
  ) {
    this.kvTokens = Math.min(opts.kvPoolTokens, capKvTokens);
  }

  async open() {
    this.log.events.push('open');
    this.opened = true;
    return this.info();
  }

  async runPoint(o: NativePointOptions, onProgress: (p: NativeProgress) => void): Promise<NativePointResult> {
    this.log.events.push(`runPoint bs=${o.batchSize} in=${o.inputLen} out=${o.outputLen}`);
    this.cancelled = false;
    const blocks = Math.ceil((o.inputLen + o.outputLen) / (this.opts.blockSize ?? 16));
    const need = o.batchSize * blocks * (this.opts.blockSize ?? 16);
    if (!this.opened) throw err('ERR_INVALID_ARGUMENT', 'engine is not open: await open() first');
    if (need > this.kvTokens) {
      // As the real scheduler must: a refused point drops whatever was queued for it.
      this.queue = [];
      throw err('ERR_DOES_NOT_FIT', `batch does not fit the KV cache: needs ${need} tokens,\n ${this.kvTokens} tokens available`);
    }
    onProgress({ phase: 'waiting', step: 0, totalSteps: 0 });
    const t0 = Date.now();
    const deadline = t0 + o.batchTimeoutMs;
    while (this.queue.length < o.batchSize) {
      if (this.cancelled) {
        this.queue = [];
        throw err('ERR_ABORTED', 'aborted');
      }
      if (Date.now() > deadline) {
        this.queue = [];
        throw err('ERR_TIMEOUT', `batch of ${o.batchSize} did not fill in ${o.batchTimeoutMs} ms`);
      }
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 5);
      });
    }
    const batch = this.queue.splice(0, o.batchSize);
    this.log.events.push(`admitted ${batch.length}`);
    onProgress({ phase: 'admitted', step: 0, totalSteps: 0 });
    const steps = o.mode === 'prefill' ? 0 : o.mode === 'decode' ? o.outputLen : o.outputLen - 1;
    const decodeStepMs: number[] = [];
    const decodeContext: number[] = [];
    for (let s = 0; s < steps; s++) {
      if (this.cancelled) throw err('ERR_ABORTED', 'aborted');
      const ctx = o.inputLen + s + 1;
      decodeContext.push(ctx);
      decodeStepMs.push(this.stepMs(o.batchSize, ctx));
      onProgress({ phase: 'timed', step: s + 1, totalSteps: steps });
      await new Promise((r) => (this.wallMs > 0 ? setTimeout(r, this.wallMs) : setImmediate(r)));
    }
    const traces = o.profile === 'none' || !o.tracePrefix ? [] : [`${o.tracePrefix}_decode.trace.json`];
    return {
      waitingMs: Date.now() - t0,
      prefillMs: o.mode === 'decode' ? null : 10 * o.batchSize,
      decodeStepMs,
      decodeContext,
      // Every draft accepted: what a real engine reports with mtpAccept 'all'.
      acceptedTokens: decodeStepMs.map(() => o.batchSize * (1 + (o.mtpDrafts ?? 0))),
      firstRequestTokens: [1, 2, 3],
      usedGraphs: o.useGraphs && this.opts.device !== 'cpu',
      profiledPrefill: o.profile === 'none' ? [] : [
        { op: 'matmul', layer: 0, ms: 3 },
        { op: 'attention', layer: 0, ms: 1 },
      ],
      profiledDecode: o.profile === 'none' ? [] : [
        { op: 'matmul', layer: 0, ms: 0.6 },
        { op: 'matmul', layer: 1, ms: 0.6 },
        { op: 'rmsnorm', layer: 0, ms: 0.2 },
      ],
      traceFiles: traces,
      routing: o.moeRouting?.text ?? 'balanced',
      expertCounts: [],
      telemetry: null,
      telemetryReason: 'no NVML: CPU device',
      kernelPaths: {},
      // What the engine reports: the prefill in the chosen form, decode absorbed (MLA models only).
      mlaPrefillForm: this.opts.spec.mla && o.mode !== 'decode' ? this.opts.mlaPrefill ?? 'decompressed' : null,
      mlaDecodeForm: this.opts.spec.mla && steps > 0 ? 'absorbed' : null,
    };
  }

  submit(request: { id: number; inputIds: Int32Array }): void {
    this.log.events.push(`submit ${request.id}`);
    this.queue.push(request);
    this.submitted.push(request);
    this.wake?.();
  }

  async generate(): Promise<never> {
    throw err('ERR_INTERNAL', 'not in the fake');
  }

  async measurePeaks() {
    this.peaksCalls++;
    const calls = { warmup: 1, count: 3, minMs: 1, medianMs: 1.01, maxMs: 1.02 };
    return { bytesPerS: 1e11, flopsPerS: 1e12, copyBytes: 1 << 30, gemmM: 4096, gemmN: 4096, gemmK: 4096, copyCalls: calls, gemmCalls: calls, bus: null };
  }

  async benchOp(): Promise<never> {
    throw err('ERR_INTERNAL', 'not in the fake');
  }

  async gemmAlgos() {
    return [];
  }

  info() {
    return {
      device: this.opts.device,
      deviceName: 'fake',
      dtype: (this.opts.device === 'cpu' ? 'f32' : 'bf16') as 'f32' | 'bf16',
      weightBytes: 0,
      kvPoolTokens: this.kvTokens,
      kvBytesPerToken: 0,
      blockSize: this.opts.blockSize ?? 16,
      weightInitMs: 0,
      deviceInfo: this.opts.device === 'cpu' ? FAKE_CPU : FAKE_H100,
    };
  }

  cancel(): void {
    this.log.events.push('cancel');
    this.cancelled = true;
  }

  async close(): Promise<void> {
    this.log.events.push('close');
    this.closed = true;
  }
}

const NOT_CUDA = { computeCapability: '', driverVersion: 0, runtimeVersion: 0, smClockMhz: 0, memClockMhz: 0 };
export const FAKE_CPU = { device: 'cpu', name: 'CPU (2 threads)', totalBytes: 8 * 2 ** 30, freeBytes: 4 * 2 ** 30, ...NOT_CUDA, threads: 2 };
export const FAKE_H100 = {
  device: 'cuda:0', name: 'Fake H100', totalBytes: 80 * 2 ** 30, freeBytes: 79 * 2 ** 30, computeCapability: '9.0',
  driverVersion: 13000, runtimeVersion: 12080, smClockMhz: 1980, memClockMhz: 2619, threads: 0,
};

/** What the addon says where libnccl.so.2 does not load (native/core/nccl_communicator.cc). */
export const NO_NCCL = 'tp * dp > 1 on CUDA needs NCCL: libnccl.so.2 not found (install NCCL 2, e.g. the libnccl2 package or the nvidia-nccl wheel, so that libnccl.so.2 is in the library path)';

export function fakeAddon(
  opts: {
    cuda?: boolean; capKvTokens?: number; stepMs?: (b: number, ctx: number) => number; /** real time per step */ wallMs?: number;
    /** Whether NCCL loads (default: with cuda): ncclUniqueIds gives ids, else throws native's ERR_DEVICE line. */
    nccl?: boolean;
  } = {},
): NativeAddon & { log: FakeLog } {
  const nccl = opts.nccl ?? opts.cuda ?? false;
  const log: FakeLog = { events: [], engines: [] };
  const stepMs = opts.stepMs ?? ((b, ctx) => 1 + b * 0.01 + ctx * 0.001);
  class Engine extends FakeEngine {
    constructor(o: NativeEngineOptions) {
      super(o, log, stepMs, opts.capKvTokens, opts.wallMs);
      log.engines.push(this);
    }
  }
  return {
    log,
    Engine,
    backends: () => (opts.cuda ? ['cpu', 'cuda'] : ['cpu']),
    listDevices: () => (opts.cuda ? [FAKE_CPU, FAKE_H100] : [FAKE_CPU]),
    ncclUniqueIds: (n: number) => {
      log.events.push(`ncclUniqueIds ${n}`);
      if (!nccl) throw err('ERR_DEVICE', NO_NCCL);
      return Buffer.alloc(128 * n, 7);
    },
    buildInfo: () => ({ commit: 'fake0commit', backends: opts.cuda ? ['cpu', 'cuda'] : ['cpu'], nccl: nccl ? 'NCCL 2.28.3' : 'libnccl.so.2 not found' }),
  };
}

/** A fake addon whose engine refuses to open with the native message and code given. */
export function refusingAddon(message: string, code = 'ERR_DOES_NOT_FIT'): ReturnType<typeof fakeAddon> {
  const addon = fakeAddon();
  const orig = addon.Engine;
  addon.Engine = class extends orig {
    override async open(): Promise<never> {
      throw Object.assign(new Error(message), { code });
    }
  } as typeof orig;
  return addon;
}
