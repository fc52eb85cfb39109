/**
 * The schemas of `robustgpu soup SUBCOMMAND`, one per subcommand (so that `robustgpu soup learned --help`
 * lists exactly what `learned` takes), over the soup options of the library (training/soups/options.ts)
 * and the device options.
 */
import type { Options, Values } from '../training/options.js';
import type { SoupCommand } from '../training/soups/run.js';
import { SOUP_COMMON_OPTIONS, SOUP_CURVE_OPTIONS, SOUP_GRID_OPTIONS, SOUP_LEARNED_OPTIONS, SOUP_MAKING_OPTIONS, type SoupValues as LibrarySoupValues } from '../training/soups/options.js';
import { DEVICE_OPTIONS } from './device_options.js';
import { defineSchema } from './schema.js';

const DEVICE = {
  backend: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.backend!.description },
  adapter: { kind: 'string', arg: 'NAME', description: DEVICE_OPTIONS.adapter!.description },
} as const satisfies Options;
const COMMON = { ...SOUP_COMMON_OPTIONS, ...DEVICE };
const SOUP = SOUP_MAKING_OPTIONS;
const CURVE = SOUP_CURVE_OPTIONS;
const GRID = SOUP_GRID_OPTIONS;
const LEARNED = SOUP_LEARNED_OPTIONS;

const usage = (m: string, extra: string) => `robustgpu soup ${m} INGREDIENT.safetensors ${m === 'curve' ? 'INGREDIENT.safetensors' : 'INGREDIENT.safetensors...'} ${extra}[--held-out N] [--test-n N] [--out DIR]`;

export const SOUP_SCHEMAS = {
  curve: defineSchema({
    name: 'soup curve', positionals: 'INGREDIENT...', options: { ...COMMON, ...CURVE },
    summary: 'The interpolation curve of two checkpoints, (1 - t) A + t B: clean and PGD accuracy on the held-out split, and the barrier of the connectivity check.',
    usage: usage('curve', '[--points 11] '), examples: ['robustgpu soup curve runs/a/checkpoints/best.safetensors runs/b/checkpoints/best.safetensors --held-out 500'],
  }),
  uniform: defineSchema({
    name: 'soup uniform', positionals: 'INGREDIENT...', options: { ...COMMON, ...SOUP },
    summary: "The uniform soup: every tensor the mean of the ingredients'.",
    usage: usage('uniform', ''), examples: ['robustgpu soup uniform runs/ft-*/checkpoints/best.safetensors --out runs/soup-uniform'],
  }),
  greedy: defineSchema({
    name: 'soup greedy', positionals: 'INGREDIENT...', options: { ...COMMON, ...SOUP },
    summary: 'The greedy soup: ingredients best first by the held-out criterion, each kept in a uniform average only if the held-out score rises.',
    usage: usage('greedy', '[--criterion robust] '), examples: ['robustgpu soup greedy a.safetensors b.safetensors c.safetensors --clean-weight 0.3'],
  }),
  grid: defineSchema({
    name: 'soup grid', positionals: 'INGREDIENT...', options: { ...COMMON, ...SOUP, ...GRID },
    summary: 'The grid soup: the interpolation of two ingredients (step 0.05), or the simplex of three or more (step 0.1), best by the held-out criterion.',
    usage: usage('grid', '[--step 0.05] '), examples: ['robustgpu soup grid clean.safetensors robust.safetensors --criterion robust'],
  }),
  learned: defineSchema({
    name: 'soup learned', positionals: 'INGREDIENT...', options: { ...COMMON, ...SOUP, ...LEARNED },
    summary: 'The adversarial learned soup: only the mixing coefficients train (Adam, PGD against the current soup), selected on the held-out split.',
    usage: usage('learned', '[--granularity layer] [--loss trades] [--steps 100] '),
    examples: ['robustgpu soup learned clean.safetensors robust.safetensors --granularity layer --temperature 0.1 --steps 200', 'robustgpu soup learned a.safetensors b.safetensors --loss trades --beta 6 --recompute-bn 2000'],
  }),
} as const satisfies Record<SoupCommand, unknown>;

export const SOUP_SUMMARIES: Record<SoupCommand, string> = {
  curve: 'the 11-point interpolation curve of two checkpoints (clean and PGD, held-out)',
  uniform: 'the mean of the ingredients',
  greedy: 'ingredients added best first while the held-out score rises',
  grid: 'interpolation (2 ingredients, step 0.05) or simplex grid (3+, step 0.1)',
  learned: 'coefficients trained adversarially (per model or per layer), selected on held-out',
};

/** Any subcommand's values, the device options included. */
export type SoupValues = LibrarySoupValues & Partial<Values<typeof DEVICE>>;
