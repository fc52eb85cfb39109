/**
 * The one argument parser every command goes through: node's util.parseArgs in strict mode, with
 * `--help` on every command and errors that list the valid options.
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  default?: string | boolean;
  /** Shown in --help; the placeholder after the flag comes from `arg`. */
  description: string;
  arg?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Extra positional arguments allowed (e.g. files after --cases). */
  positionals?: string;
  examples?: string[];
}

export interface Parsed { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] }

export function helpText(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.options, help: { type: 'boolean', short: 'h', description: 'show this help' } as OptionSpec })
    .map(([k, o]) => [`${o.short ? `-${o.short}, ` : ''}--${k}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`, `${o.description}${o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : ''}${o.multiple ? ' (repeatable)' : ''}`]);
  const w = Math.max(...rows.map((r) => r[0]!.length));
  return [
    `${spec.summary}`, '', `Usage: ${spec.usage}`, '', 'Options:',
    ...rows.map(([a, b]) => `  ${a!.padEnd(w)}  ${b}`),
    ...(spec.examples?.length ? ['', 'Examples:', ...spec.examples.map((e) => `  ${e}`)] : []),
  ].join('\n');
}

/** Parses argv for a command; returns null after printing help. */
export function parseCommand(spec: CommandSpec, argv: string[]): Parsed | null {
  // parseArgs rejects keys present with an undefined value, so only set what the spec sets.
  const options = Object.fromEntries(Object.entries(spec.options).map(([k, o]) => [k, {
    type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}), ...(o.default !== undefined && !o.multiple ? { default: o.default } : {}),
  }]));
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    // node's message is kept whole: it has the hints (e.g. '--eps=-1' for a value starting with a dash).
    const valid = Object.keys(spec.options).map((k) => `--${k}`).concat('--help').join(', ');
    throw new UsageError(`${spec.name}: ${(e as Error).message.replace(/\n/g, ' ')} Valid options: ${valid}`);
  }
  if (parsed.values.help) {
    console.log(helpText(spec));
    return null;
  }
  if (parsed.positionals.length && !spec.positionals) throw new UsageError(`${spec.name}: unexpected argument '${parsed.positionals[0]}' (see --help)`);
  return { values: parsed.values as Parsed['values'], positionals: parsed.positionals };
}

/** A number option, with an error naming the flag, expected and received value. */
export function numberOption(cmd: string, flag: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${cmd}: --${flag} expects a number, got '${String(v)}'`);
  return n;
}
