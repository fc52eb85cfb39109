/**
 * `robustgpu soup SUBCOMMAND INGREDIENT.safetensors...`: a thin layer over training/soups/run.ts (runSoup):
 * the subcommand's options (cli/soup_options.ts), progress bars, and the printed report. Usage errors exit 2
 * before any device is opened. Ingredients that fail the linear connectivity check exit 1 with the check's
 * message and curve, unless --force.
 */
import { Device, setDefaultDevice } from '../engine/device.js';
import { OptionError } from '../training/options.js';
import { soupRunOptions } from '../training/soups/options.js';
import { ConnectivityError } from '../training/soups/connectivity.js';
import { SoupError } from '../training/soups/ingredients.js';
import { barrierText, curveTable, soupReportText } from '../training/soups/report.js';
import { ingredientCountProblem, runSoup, SOUP_COMMANDS, type RunSoupOptions, type SoupCommand } from '../training/soups/run.js';
import { textTable } from '../training/report/table.js';
import { UsageError } from './args.js';
import { Progress } from './progress.js';
import { SOUP_SCHEMAS, SOUP_SUMMARIES, type SoupValues } from './soup_options.js';

function soupUsage(): string {
  const w = Math.max(...SOUP_COMMANDS.map((m) => m.length));
  return ['Model soups of checkpoints of one architecture: the connectivity check, then a soup chosen on a held-out split, evaluated on the test split.', '',
    'Usage: robustgpu soup SUBCOMMAND INGREDIENT.safetensors... [options]   (robustgpu soup SUBCOMMAND --help for its options)', '', 'Subcommands:',
    ...SOUP_COMMANDS.map((m) => `  ${m.padEnd(w)}  ${SOUP_SUMMARIES[m]}`), '',
    'Writes soup.safetensors (a normal checkpoint), soup.json, plane.svg and report.html into --out.',
    'Exit status: 0 done, 1 refused by the connectivity check (--force soups anyway) or failed, 2 usage error.'].join('\n');
}

const isCommand = (s: string): s is SoupCommand => (SOUP_COMMANDS as readonly string[]).includes(s);

/** runSoup's options from the flags (a conflict between them is a usage error). */
function runOptions(method: SoupCommand, v: SoupValues, sources: Record<string, string>): RunSoupOptions {
  try {
    return soupRunOptions(method, v, sources);
  } catch (e) {
    if (e instanceof OptionError) throw new UsageError(e.message);
    throw e;
  }
}

export async function soupCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub ? console.log : console.error)(soupUsage());
    return sub ? 0 : 2;
  }
  if (!isCommand(sub)) throw new UsageError(`soup: unknown subcommand '${sub}'; expected one of ${SOUP_COMMANDS.join(', ')} (robustgpu soup --help)`);
  const schema = SOUP_SCHEMAS[sub];
  const p = schema.parse(rest);
  if (!p) return 0;
  const count = ingredientCountProblem(sub, p.positionals.length);
  if (count) throw new UsageError(`soup ${count} (see --help)`);
  const v = p.values as SoupValues;
  const opts = runOptions(sub, v, p.sources as Record<string, string>);
  const paths = p.positionals;
  console.log(`robustgpu soup ${sub}: ${paths.length} ingredients (${paths.join(', ')}) -> ${opts.outDir}`);

  const device = await Device.create({ backend: v.backend, adapter: v.adapter });
  setDefaultDevice(device);
  let bar: Progress | null = null;
  let current = '';
  try {
    const run = await runSoup(sub, paths, {
      ...opts,
      onProgress: (phase, done, total) => {
        if (phase !== current) { current = phase; bar = new Progress(phase, total, phase === 'learned' ? 'step' : phase.startsWith('test') ? 'img' : 'eval'); }
        bar!.update(done);
      },
    });
    console.log(`\n${soupReportText(run)}`);
    for (const w of run.warnings) console.error(`warning: ${w}`);
    console.log(`\n${run.files.checkpoint ? `soup:   ${run.files.checkpoint}\n` : ''}json:   ${run.files.json}\nreport: ${run.files.html}`);
    return 0;
  } catch (e) {
    if (e instanceof ConnectivityError) {
      for (const c of e.report.curves) console.error(`\n${c.labels[0]} to ${c.labels[1]}: ${barrierText(c)}\n${textTable(curveTable(c, v.pgdSteps))}`);
      console.error(`\nsoup ${sub}: refused: ${e.message.replace(/pass force to soup anyway$/, 'pass --force to soup anyway')}`);
      return 1;
    }
    if (e instanceof SoupError) {
      console.error(`soup ${sub}: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    setDefaultDevice(null);
    await device.close();
  }
}
