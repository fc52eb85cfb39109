/** `robustgpu info`: the adapter, backend, features, the limits the engine requested, speed toggles and the tune cache. */
import { Device, type DeviceOptions } from '../engine/device.js';
import type { TuneState } from '../engine/tune.js';
import { parseCommand, type CommandSpec } from './args.js';
import { deviceOptions, DEVICE_OPTIONS } from './device_options.js';

export const infoSpec: CommandSpec = {
  name: 'info',
  summary: 'Print the WebGPU adapter (vendor, architecture, description, backend), its features, the limits requested, the Dawn speed toggles and the kernel tune cache.',
  usage: 'robustgpu info [--json] [--backend NAME] [--adapter NAME]',
  options: { json: { type: 'boolean', description: 'print JSON' }, ...DEVICE_OPTIONS },
};

/** The tune cache in a few lines: file, entries, key, and whether the file's entries were ignored. */
export function describeTuneCache(s: TuneState): string[] {
  const k = s.key;
  const file = s.path === null ? 'off (in memory only)' : `${s.path}${s.fileExists ? '' : ' (no file yet: robustgpu tune MODEL writes it)'}`;
  return [
    `tune cache   ${file}`,
    `             ${s.entries} entr${s.entries === 1 ? 'y' : 'ies'}${s.pending ? `, ${s.pending} pending` : ''}; key ${k.vendor || '-'} / ${k.architecture || '-'} / ${k.device || '-'} / ${k.description || '-'} / ${k.backend}, robustgpu ${k.version}`,
    ...(s.stale ? [`             the file's entries are ignored: ${s.stale}`] : []),
  ];
}

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
    `fast toggles ${i.toggles.length ? i.toggles.join(', ') : 'off (ROBUSTGPU_FAST=1 enables skip_validation, disable_robustness, disable_workgroup_init)'}`,
    ...describeTuneCache(d.chooser.state()),
  ].join('\n');
}

export async function infoCommand(argv: string[]): Promise<number> {
  const p = parseCommand(infoSpec, argv);
  if (!p) return 0;
  const opts: DeviceOptions = deviceOptions(p.values);
  const d = await Device.create(opts);
  try {
    console.log(p.values.json ? JSON.stringify({ ...d.info, tuneCache: d.chooser.state() }, null, 2) : formatInfo(d));
  } finally {
    await d.close();
  }
  return 0;
}
