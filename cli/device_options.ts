/** The device-selection flags shared by every command that opens a device. */
import type { DeviceOptions } from '../engine/device.js';
import type { OptionSpec, Parsed } from './args.js';

export const DEVICE_OPTIONS: Record<string, OptionSpec> = {
  backend: { type: 'string', arg: 'NAME', description: "Dawn backend: vulkan, metal, d3d12, ... (env ROBUSTGPU_BACKEND)" },
  adapter: { type: 'string', arg: 'NAME', description: 'pick the adapter whose name contains NAME (env ROBUSTGPU_ADAPTER)' },
  fast: { type: 'boolean', description: "Dawn's skip_validation, disable_robustness, disable_workgroup_init: faster, no WebGPU checks (env ROBUSTGPU_FAST=1)" },
};

export function deviceOptions(v: Parsed['values']): DeviceOptions {
  return { backend: v.backend as string | undefined, adapter: v.adapter as string | undefined, ...(v.fast ? { fast: true } : {}) };
}
