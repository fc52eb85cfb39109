/**
 * `robustgpu report RUN_DIR [RUN_DIR...]`: a run's report.html and plots, regenerated from its directory, or a
 * comparison of several runs written into --out. Prints the tables; a missing or malformed run directory
 * is a usage error (exit 2) naming the file and line.
 */
import { isAbsolute, relative } from 'node:path';
import type { StringOpt } from '../training/options.js';
import { compareRuns, writeRunReport, type ReportResult } from '../training/report/report.js';
import { RunDirError } from '../training/report/runs.js';
import { isSweepDir, writeSweepReport } from '../training/sweep/report.js';
import { UsageError } from './args.js';
import { defineSchema } from './schema.js';

export const reportSchema = defineSchema({
  name: 'report',
  summary: "Write a run's report.html (final evaluation table, checks, warnings, loss and accuracy plots, configuration) and its SVG plots; with several runs, a comparison report.",
  usage: 'robustgpu report RUN_DIR [--out DIR]\n       robustgpu report RUN_DIR RUN_DIR... --out DIR\n       robustgpu report SWEEP_DIR   (every run of a sweep compared, into the sweep\'s folder)',
  positionals: 'RUN_DIR...',
  options: {
    out: { kind: 'string', arg: 'DIR', description: 'where to write report.html and the SVGs (default: the run directory; required for several runs)' } as StringOpt,
    robust: { kind: 'string', arg: 'ATTACK', description: 'the final evaluation row for the robust axis of the comparison (name or prefix, e.g. pgd; default: the strongest a run has)' } as StringOpt,
  },
  examples: [
    'robustgpu report runs/trades-smallcnn-2026-12-02',
    'robustgpu report runs/trades-* --out reports/trades-sweep --robust pgd',
  ],
});

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
/** Relative to the working directory when under it. */
const shown = (path: string) => {
  const r = relative(process.cwd(), path);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : path;
};

export async function reportCommand(argv: string[]): Promise<number> {
  const p = reportSchema.parse(argv);
  if (!p) return 0;
  const dirs = p.positionals;
  const { out, robust } = p.values;
  if (!dirs.length) throw new UsageError('report: give one or more run directories (see --help)');
  if (dirs.length > 1 && !out) throw new UsageError(`report: comparing ${dirs.length} runs needs --out DIR for the comparison report`);
  const sweep = dirs.length === 1 && isSweepDir(dirs[0]!);
  if (dirs.length === 1 && !sweep && robust !== undefined) throw new UsageError('report: --robust picks the robust axis of a comparison; give several run directories or a sweep');
  let r: ReportResult;
  try {
    r = sweep ? await writeSweepReport(dirs[0]!, { robust, ...(out ? { outDir: out } : {}) })
      : dirs.length === 1 ? await writeRunReport(dirs[0]!, out ? { outDir: out } : {}) : await compareRuns(dirs, out!, { robust });
  } catch (e) {
    if (e instanceof RunDirError) {
      console.error(`report: ${e.message}`);
      return 2;
    }
    throw e;
  }
  console.log(r.text);
  for (const w of r.warnings) console.error(`warning: ${w}`);
  const [html, ...svgs] = r.files;
  console.log(`\nwrote ${shown(html!.path)} (${kb(html!.bytes)})${svgs.length ? ` and ${svgs.map((f) => shown(f.path)).join(', ')}` : ''}`);
  return 0;
}
