/**
 * A command's options declared once (training/options.ts): the flag (camelCase key -> --kebab-case), the
 * --help line, the typed and validated value, the key in a JSON config file (`--config FILE`), and the echoed
 * resolved configuration with where each value came from. node's own parse hints (such as `--eps=-1` for a
 * negative number) are kept in the messages.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './args.js';
import { OptionError, readConfigFile, resolveOptions, showValue, type Options, type Source, type StringOpt, type Values } from '../training/options.js';

export type { Source, Values };

export interface Schema<S extends Options> {
  name: string;
  options: S;
  help(): string;
  /** Parses argv (and the --config file it names); null after printing --help. */
  parse(argv: string[]): { values: Values<S>; sources: Record<keyof S & string, Source>; positionals: string[] } | null;
  /** The resolved configuration, one `key = value (source)` line per option. */
  echo(values: Values<S>, sources: Record<string, Source>): string;
}

export const toFlag = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function defineSchema<S extends Options>(def: { name: string; summary: string; usage: string; options: S; positionals?: string; examples?: string[] }): Schema<S> {
  const all: Options = { ...def.options, config: { kind: 'string', description: 'a JSON file of option values (keys as in the echoed configuration); flags override it', arg: 'FILE' } as StringOpt };
  const help = () => {
    const rows = Object.entries(all).map(([k, o]) => [
      `${o.short ? `-${o.short}, ` : ''}--${toFlag(k)}${o.kind === 'bool' ? '' : ` ${o.arg ?? (o.kind === 'int' || o.kind === 'number' ? 'N' : 'VALUE')}`}`,
      `${o.description}${o.kind === 'choice' ? ` (${o.choices.join(' | ')})` : ''}${o.default !== undefined && o.default !== false ? ` (default: ${showValue(o.default)})` : ''}`,
    ]).concat([['-h, --help', 'show this help']]);
    const w = Math.max(...rows.map((r) => r[0]!.length));
    return [def.summary, '', `Usage: ${def.usage}`, '', 'Options:', ...rows.map(([a, b]) => `  ${a!.padEnd(w)}  ${b}`),
      ...(def.examples?.length ? ['', 'Examples:', ...def.examples.map((e) => `  ${e}`)] : [])].join('\n');
  };
  return {
    name: def.name,
    options: def.options,
    help,
    parse(argv) {
      const spec = Object.fromEntries(Object.entries(all).map(([k, o]) => [toFlag(k), { type: o.kind === 'bool' ? 'boolean' as const : 'string' as const, ...(o.short ? { short: o.short } : {}) }]));
      let parsed;
      try {
        parsed = parseArgs({ args: argv, options: { ...spec, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
      } catch (e) {
        throw new UsageError(`${def.name}: ${(e as Error).message.replace(/\n/g, ' ')} (valid options: ${Object.keys(spec).map((f) => `--${f}`).join(', ')}, --help)`);
      }
      const flags = parsed.values as Record<string, unknown>;
      if (flags.help) { console.log(help()); return null; }
      if (parsed.positionals.length && !def.positionals) throw new UsageError(`${def.name}: unexpected argument '${parsed.positionals[0]}' (see --help)`);
      const file = flags.config as string | undefined;
      try {
        const overrides = Object.fromEntries(Object.keys(def.options).map((k) => [k, flags[toFlag(k)]]));
        const r = resolveOptions(def.options, {
          config: file ? readConfigFile(file) : undefined, configName: `${def.name}: --config ${file}`,
          overrides, overrideName: (k) => `${def.name}: --${toFlag(k)}`,
        });
        return { ...r, positionals: parsed.positionals };
      } catch (e) {
        if (e instanceof OptionError) throw new UsageError(e.message);
        throw e;
      }
    },
    echo(values, sources) {
      const keys = Object.keys(def.options);
      const w = Math.max(...keys.map((k) => k.length));
      return keys.map((k) => `  ${k.padEnd(w)} = ${showValue((values as Record<string, unknown>)[k])}  (${sources[k]})`).join('\n');
    },
  };
}
