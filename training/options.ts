/**
 * Options declared once, as data: kind, default, bounds, choices and description. The library validates a
 * run's configuration with these declarations where it enters (a config object, a JSON file), and the CLI
 * (cli/schema.ts) derives its flags, --help and echoed configuration from the same declarations. Errors name
 * the option, the expected and the received value.
 */
import { readFileSync } from 'node:fs';

interface Base<T> {
  description: string;
  default?: T;
  /** Placeholder after the flag in --help. */
  arg?: string;
  short?: string;
}
export interface IntOpt extends Base<number> { kind: 'int'; min?: number; max?: number }
export interface NumberOpt extends Base<number> { kind: 'number'; min?: number; max?: number; /** an exclusive lower bound */ above?: number }
export interface StringOpt extends Base<string> { kind: 'string' }
export interface ChoiceOpt<C extends string = string> extends Base<C> { kind: 'choice'; choices: readonly C[] }
export interface BoolOpt extends Base<boolean> { kind: 'bool' }
export interface ListOpt extends Base<string[]> { kind: 'list'; choices?: readonly string[] }
export type Opt = IntOpt | NumberOpt | StringOpt | ChoiceOpt | BoolOpt | ListOpt;
export type Options = Record<string, Opt>;

type ValueOf<O> = O extends IntOpt | NumberOpt ? number : O extends ChoiceOpt<infer C> ? C : O extends StringOpt ? string : O extends BoolOpt ? boolean : O extends ListOpt ? string[] : never;
/** Options with a default are always set; the others may be undefined. */
export type Values<S extends Options> = { [K in keyof S]: S[K] extends { default: unknown } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined };
/** Where a value came from; 'init': read from the --init checkpoint (its architecture and activation). */
export const SOURCES = ['default', 'config', 'flag', 'init'] as const;
export type Source = (typeof SOURCES)[number];

/** A bad option value (the CLI reports it as a usage error). */
export class OptionError extends Error {}

export function expected(o: Opt): string {
  switch (o.kind) {
    case 'int': return `an integer${o.min !== undefined ? ` >= ${o.min}` : ''}${o.max !== undefined ? ` <= ${o.max}` : ''}`;
    case 'number': return `a number${o.above !== undefined ? ` > ${o.above}` : o.min !== undefined ? ` >= ${o.min}` : ''}${o.max !== undefined ? ` <= ${o.max}` : ''}`;
    case 'choice': return `one of ${o.choices.join(', ')}`;
    case 'list': return `a comma-separated list${o.choices ? ` of ${o.choices.join(', ')}` : ''}`;
    case 'bool': return 'true or false';
    case 'string': return 'a string';
  }
}

/** One value from a flag (a string) or a config (any JSON value); `where` names it in the error. */
export function coerce(o: Opt, raw: unknown, where: string): unknown {
  const bad = () => new OptionError(`${where} expects ${expected(o)}, got ${typeof raw === 'string' ? `'${raw}'` : JSON.stringify(raw)}`);
  switch (o.kind) {
    case 'int': case 'number': {
      const v = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(v) || (o.kind === 'int' && !Number.isInteger(v))) throw bad();
      if (o.min !== undefined && v < o.min) throw bad();
      if (o.max !== undefined && v > o.max) throw bad();
      if (o.kind === 'number' && o.above !== undefined && !(v > o.above)) throw bad();
      return v;
    }
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === 'false') return raw === 'true';
      throw bad();
    case 'string':
      if (typeof raw !== 'string') throw bad();
      return raw;
    case 'choice':
      if (typeof raw !== 'string' || !o.choices.includes(raw)) throw bad();
      return raw;
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : null;
      if (!items || items.some((s) => typeof s !== 'string' || (o.choices && !o.choices.includes(s)))) throw bad();
      return items;
    }
  }
}

/**
 * Resolves values: the defaults, then `config` (a plain object keyed as the options, e.g. a JSON file's
 * content), then `overrides` (already typed, e.g. flags). Unknown keys and bad values are errors naming the
 * key and `what` (the file).
 */
export function resolveOptions<S extends Options>(options: S, layers: { config?: Record<string, unknown>; configName?: string; overrides?: Record<string, unknown>; overrideName?: (key: string) => string }): { values: Values<S>; sources: Record<keyof S & string, Source> } {
  const values: Record<string, unknown> = {};
  const sources: Record<string, Source> = {};
  for (const [k, o] of Object.entries(options)) { values[k] = o.default; sources[k] = 'default'; }
  const apply = (obj: Record<string, unknown> | undefined, src: Source, where: (k: string) => string) => {
    if (!obj) return;
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      const o = Object.hasOwn(options, k) ? options[k] : undefined;
      if (!o) throw new OptionError(`${where(k)}: unknown key (known: ${Object.keys(options).join(', ')})`);
      values[k] = coerce(o, v, where(k));
      sources[k] = src;
    }
  };
  apply(layers.config, 'config', (k) => `${layers.configName ?? 'config'}: key '${k}'`);
  apply(layers.overrides, 'flag', layers.overrideName ?? ((k) => `option '${k}'`));
  return { values: values as Values<S>, sources: sources as Record<keyof S & string, Source> };
}

/** A JSON config file as a plain object, with errors naming the file. */
export function readConfigFile(path: string): Record<string, unknown> {
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new OptionError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new OptionError(`${path}: expected a JSON object of option values`);
  return cfg as Record<string, unknown>;
}

export function showValue(v: unknown): string {
  return Array.isArray(v) ? v.join(',') : v === undefined ? '-' : String(v);
}

/**
 * The same options with other defaults (a command that is another command's preset, as `start` is of
 * `train`); each new default is checked against its option.
 */
export function withDefaults<S extends Options>(options: S, defaults: { [K in keyof S]?: Values<S>[K] }, where = 'defaults'): S {
  const out: Record<string, Opt> = { ...options };
  for (const [k, v] of Object.entries(defaults)) {
    const o = Object.hasOwn(options, k) ? options[k] : undefined;
    if (!o) throw new OptionError(`${where}: unknown key '${k}' (known: ${Object.keys(options).join(', ')})`);
    out[k] = { ...o, default: coerce(o, v, `${where}: key '${k}'`) } as Opt;
  }
  return out as S;
}
