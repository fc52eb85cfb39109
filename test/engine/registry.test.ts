import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registeredOps } from '../../engine/op.js';
import '../../engine/ops/index.js';

const opsDir = join(import.meta.dirname, '../../engine/ops');

describe('every op is audited', () => {
  it('each registered op has a float64 reference and audit cases; differentiable ops a reference gradient', () => {
    const problems: string[] = [];
    for (const op of registeredOps()) {
      if (!op.audit.length) problems.push(`${op.name}: no audit cases`);
      if (typeof op.reference?.forward !== 'function') problems.push(`${op.name}: no reference forward`);
      if ((op.backward || op.composite) && typeof op.reference.backward !== 'function') problems.push(`${op.name}: differentiable but no reference gradient`);
      if (op.backward && op.composite) problems.push(`${op.name}: composite ops are differentiated through their parts, not a backward`);
    }
    expect(problems).toEqual([]);
  });

  it('every op file registers its ops through defineOp (no op bypasses the registry)', () => {
    const files = readdirSync(opsDir).filter((f) => f.endsWith('.ts') && f !== 'index.ts');
    const missing = files.filter((f) => !/defineOp[<(]/.test(readFileSync(join(opsDir, f), 'utf8')));
    expect(missing).toEqual([]);
    // Ops call kernels only from op files: index.ts is the API over them and must not dispatch itself.
    expect(readFileSync(join(opsDir, 'index.ts'), 'utf8')).not.toMatch(/\brun[A-Z]\w*\(/);
  });
});
