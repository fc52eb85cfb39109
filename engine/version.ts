/** The library's version: its package.json's, found upwards from this file (in dist/ or in the sources). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | null = null;

export function libraryVersion(): string {
  if (cached !== null) return cached;
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const j = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (j.name === 'robustgpu') return (cached = j.version ?? 'unknown');
    } catch { /* keep walking up */ }
  }
  return (cached = 'unknown');
}
