/**
 * Where the peers get WebGPU from. Both find it as `navigator.gpu` (Node has no WebGPU of its own), so for
 * the duration of a comparison `globalThis.navigator` is replaced by `{ gpu, userAgent }` and restored after.
 *
 * - shared (default): `gpu` is a stand-in whose requestAdapter() gives an adapter whose requestDevice()
 *   returns robustgpu's own GPUDevice (device.gpu): one Dawn instance, one adapter, one device and one queue
 *   for all three engines, with the same limits and features. tfjs could also take the device directly (its
 *   WebGPUBackend constructor does, and we use that); jax-js has no such API, this is how it gets it.
 * - own: `gpu` is a second Dawn instance (webgpu's create(), same backend/adapter flags as Device.create),
 *   and each peer requests its own device on that adapter, with the limits and features it asks for.
 *
 * Dawn keeps the process alive while an instance is referenced: the own mode drops the instance and
 * destroys the peers' devices at the end, the shared mode leaves the device to its owner (device.destroy()).
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { create } from 'webgpu';
import { libraryVersion } from '../../engine/version.js';

const SELF = Symbol.for('robustgpu.peers.navigator');

/** Sets globalThis.navigator to { gpu, userAgent } and returns the function that puts the old one back. */
export function installNavigator(gpu: object): () => void {
  const prev = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', {
    value: { gpu, userAgent: `Node.js/${process.version.slice(1)} (robustgpu peers)`, [SELF]: true },
    configurable: true, writable: true, enumerable: true,
  });
  return () => {
    if (prev) Object.defineProperty(globalThis, 'navigator', prev);
    else delete (globalThis as { navigator?: unknown }).navigator;
  };
}

/** A navigator.gpu whose adapter hands out `device` itself (the shared mode). */
export function sharedGpu(device: GPUDevice): object {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const adapter = {
    info, features: device.features, limits: device.limits, isFallbackAdapter: false,
    requestAdapterInfo: async () => info,
    requestDevice: async () => device,
  };
  return {
    requestAdapter: async () => adapter,
    getPreferredCanvasFormat: () => 'rgba8unorm',
    wgslLanguageFeatures: new Set<string>(),
  };
}

/** A second Dawn instance on the adapter robustgpu would pick (env ROBUSTGPU_BACKEND / ROBUSTGPU_ADAPTER). */
export function ownGpu(): GPU {
  const flags: string[] = [];
  if (process.env.ROBUSTGPU_BACKEND) flags.push(`backend=${process.env.ROBUSTGPU_BACKEND}`);
  if (process.env.ROBUSTGPU_ADAPTER) flags.push(`adapter=${process.env.ROBUSTGPU_ADAPTER}`);
  return create(flags);
}

/** The installed version of a package, or null when it is not installed. */
export function installedVersion(pkg: string): string | null {
  const req = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = req.resolve(pkg);
  } catch {
    return null;
  }
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const j = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (j.name === pkg) return j.version ?? 'unknown';
    } catch { /* keep walking up */ }
  }
  return 'unknown';
}

/** robustgpu's own version. */
export function ourVersion(): string | undefined {
  const v = libraryVersion();
  return v === 'unknown' ? undefined : v;
}

/** The reason a peer did not load, for the table: "not installed" or the error's first line. */
export function whyNot(pkg: string, e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    return `peer not installed (${pkg}; \`npm install\` with dev dependencies brings it)`;
  }
  return `${pkg} failed: ${String((e as Error).message ?? e).split('\n')[0]}`;
}
