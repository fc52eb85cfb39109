/** The library's own version: its package.json, found upwards from this file (in dist/ or in the sources). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function libraryVersion(): string {
  if (cached) return cached;
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const j = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (j.name === 'robustgpu') return (cached = j.version ?? 'unknown');
    } catch { /* not here: keep walking up */ }
  }
  return (cached = 'unknown');
}
