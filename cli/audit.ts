/**
 * `robustgpu audit`: every registered op against its float64 reference and finite differences, or, with
 * --cases, reference-case files from another framework. Exit 1 on any failure, 2 on a malformed file.
 */
import { Device } from '../engine/device.js';
import { runAudit, FD_TOLERANCE, type AuditRow } from '../engine/audit.js';
import { CaseFileError, runCaseFiles, type CaseResult } from '../engine/audit_cases.js';
import { parseCommand, numberOption, UsageError, type CommandSpec } from './args.js';
import { deviceOptions, DEVICE_OPTIONS } from './device_options.js';
import { sci, table } from './table.js';

export const auditSpec: CommandSpec = {
  name: 'audit',
  summary: 'Check every op: GPU forward vs a float64 CPU reference, GPU gradients vs the reference gradients,\n' +
    'and the reference gradients vs central finite differences. With --cases, run reference-case files instead.',
  usage: 'robustgpu audit [--op NAME]... [--json] | robustgpu audit --cases FILE... [--atol X] [--rtol X] [--json]',
  options: {
    op: { type: 'string', multiple: true, arg: 'NAME', description: 'audit only this op' },
    json: { type: 'boolean', description: 'print the result as JSON' },
    cases: { type: 'string', multiple: true, arg: 'FILE', description: 'run reference-case files (format: REFERENCE_CASES.md); more files may follow' },
    atol: { type: 'string', arg: 'X', description: 'with --cases: absolute tolerance, scaled by max(1, max|ref|)', default: '1e-5' },
    rtol: { type: 'string', arg: 'X', description: 'with --cases: relative tolerance', default: '1e-4' },
    seed: { type: 'string', arg: 'N', description: 'seed of the drawn inputs', default: '0' },
    ...DEVICE_OPTIONS,
  },
  positionals: 'FILE...',
  examples: ['robustgpu audit', 'robustgpu audit --op matmul --op sum', 'robustgpu audit --cases test/cases/*.json'],
};

export function formatAudit(rows: AuditRow[]): string {
  const body = rows.map((r) => [
    r.op, r.cases, sci(r.forward.maxAbs), sci(r.forward.maxRel), sci(r.gradient?.maxAbs), sci(r.gradient?.maxRel), sci(r.finiteDiff?.maxRel),
    `${sci(r.tolerance.atol)}/${sci(r.tolerance.rtol)}`, r.pass ? 'pass' : 'FAIL',
  ]);
  const failed = rows.filter((r) => !r.pass);
  return [
    table(['op', 'cases', 'fwd abs', 'fwd rel', 'grad abs', 'grad rel', 'fd rel', 'atol/rtol', 'result'], body),
    '',
    `fwd/grad: GPU (float32) vs float64 reference; pass when |err| <= atol*max(1,max|ref|) + rtol*|ref|.`,
    `fd: reference gradient vs central differences (float64, step 1e-6), atol ${FD_TOLERANCE.atol}, rtol ${FD_TOLERANCE.rtol}.`,
    ...rows.flatMap((r) => (r.notes ?? []).map((n) => `note ${r.op}: ${n}`)),
    `${rows.length - failed.length} of ${rows.length} ops pass.`,
    ...failed.flatMap((r) => r.failures.map((f) => `FAIL ${r.op}: ${f}`)),
  ].join('\n');
}

export function formatCases(results: CaseResult[]): string {
  const body = results.map((r) => [r.file.split('/').pop()!, r.case, r.op, r.status === 'skipped' ? 'skipped (unsupported op)' : r.status, r.status === 'skipped' ? '-' : sci(r.maxAbs), r.status === 'skipped' ? '-' : r.worstRatio.toFixed(3)]);
  const count = (s: CaseResult['status']) => results.filter((r) => r.status === s).length;
  return [
    table(['file', 'case', 'op', 'result', 'max abs err', 'err/tol'], body),
    '',
    `${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped (unsupported op)`,
    ...results.filter((r) => r.status === 'fail').map((r) => `FAIL ${r.case}: ${r.detail}`),
  ].join('\n');
}

export async function auditCommand(argv: string[]): Promise<number> {
  const p = parseCommand(auditSpec, argv);
  if (!p) return 0;
  const v = p.values;
  const files = [...((v.cases as string[] | undefined) ?? []), ...p.positionals];
  if (p.positionals.length && !v.cases) throw new UsageError(`audit: unexpected argument '${p.positionals[0]}' (files go after --cases)`);
  const device = await Device.create(deviceOptions(v));
  try {
    if (files.length) {
      const tolerance = { atol: numberOption('audit', 'atol', v.atol, 1e-5), rtol: numberOption('audit', 'rtol', v.rtol, 1e-4) };
      let results: CaseResult[];
      try {
        results = await runCaseFiles(device, files, { tolerance });
      } catch (e) {
        if (e instanceof CaseFileError) { console.error(`audit: malformed case file: ${e.message}`); return 2; }
        throw e;
      }
      console.log(v.json ? JSON.stringify(results, null, 2) : formatCases(results));
      return results.some((r) => r.status === 'fail') ? 1 : 0;
    }
    const rows = await runAudit(device, { ops: v.op as string[] | undefined, seed: numberOption('audit', 'seed', v.seed, 0) });
    console.log(v.json ? JSON.stringify(rows, null, 2) : formatAudit(rows));
    return rows.every((r) => r.pass) ? 0 : 1;
  } finally {
    await device.close();
  }
}
