/** `robustgpu info`: the adapter, backend, features and the limits the engine requested. */
import { Device, type DeviceOptions } from '../engine/device.js';
import { parseCommand, type CommandSpec } from './args.js';
import { deviceOptions, DEVICE_OPTIONS } from './device_options.js';

export const infoSpec: CommandSpec = {
  name: 'info',
  summary: 'Print the WebGPU adapter (vendor, architecture, description, backend), its features and the limits requested.',
  usage: 'robustgpu info [--json] [--backend NAME] [--adapter NAME]',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...DEVICE_OPTIONS },
};

export function formatInfo(d: Device): string {
  const i = d.info;
  return [
    `adapter      ${i.description || '(no description)'}`,
    `vendor       ${i.vendor || '-'}`,
    `architecture ${i.architecture || '-'}`,
    `device       ${i.device || '-'}`,
    `backend      ${i.backend}${i.fallback ? ', software adapter (CPU)' : ''}`,
    `subgroups    ${i.subgroupSizes[0]}-${i.subgroupSizes[1]} lanes`,
    `features     ${i.features.join(', ') || '-'}`,
    `memory       budget ${(d.memoryBudgetBytes / 2 ** 30).toFixed(1)} GiB (DeviceOptions.memoryBudgetBytes, env ROBUSTGPU_MEMORY_BUDGET; WebGPU reports no memory size)`,
    'limits requested:',
    ...Object.entries(i.limits).map(([k, v]) => `  ${k.padEnd(36)} ${v}`),
  ].join('\n');
}

export async function infoCommand(argv: string[]): Promise<number> {
  const p = parseCommand(infoSpec, argv);
  if (!p) return 0;
  const opts: DeviceOptions = deviceOptions(p.values);
  const d = await Device.create(opts);
  try {
    console.log(p.values.json ? JSON.stringify(d.info, null, 2) : formatInfo(d));
  } finally {
    d.destroy();
  }
  return 0;
}
