/**
 * registry.ts — a flag is declared once: its yargs spec (parsing, help) beside its zod validator
 * (the checks and their messages). A command's flags are a record of them; optionTable() gives yargs
 * its table and argsShape() gives z.object() its shape under the camelCase keys yargs produces, so
 * parsing is testable without running anything and a flag cannot be known to one and not the other.
 */
import type { Options } from 'yargs';
import { z } from 'zod';
import { usageError } from '../errors.js';

export interface OptionSpec {
  type: 'string' | 'number' | 'boolean';
  describe: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  alias?: string;
  demandOption?: boolean;
  array?: boolean;
}

export interface Flag<S extends OptionSpec = OptionSpec, Z extends z.ZodType = z.ZodType> {
  readonly spec: S;
  readonly schema: Z;
}

export type Flags = Record<string, Flag>;

export function flag<const S extends OptionSpec, Z extends z.ZodType>(spec: S, schema: Z): Flag<S, Z> {
  return { spec, schema };
}

/** A string flag that takes one of `values`: yargs lists and enforces them, zod types them. */
export function choice<const V extends readonly [string, ...string[]], const S extends Omit<OptionSpec, 'type' | 'choices'>>(values: V, spec: S) {
  return flag({ type: 'string', ...spec, choices: values } as const, z.enum(values));
}

/** The same flag (same validator, same default) with its help said for another command. */
export function restate<S extends OptionSpec, Z extends z.ZodType>(f: Flag<S, Z>, patch: { describe: string }): Flag<S, Z> {
  return { spec: { ...f.spec, describe: patch.describe }, schema: f.schema };
}

/** `eval-batch-size` → `evalBatchSize`: the key yargs gives a flag's value under. */
export type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
export const camel = (k: string): string => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
export const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The yargs side of a command's flags. */
export function optionTable<F extends Flags>(flags: F): { [K in keyof F]: F[K]['spec'] } {
  return Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, f.spec])) as { [K in keyof F]: F[K]['spec'] };
}

/** The zod side: a z.object() shape keyed as yargs hands the values over. */
export function argsShape<F extends Flags>(flags: F): { [K in keyof F & string as Camel<K>]: F[K]['schema'] } {
  return Object.fromEntries(Object.entries(flags).map(([k, f]) => [camel(k), f.schema])) as { [K in keyof F & string as Camel<K>]: F[K]['schema'] };
}

/** A table as yargs takes it. */
export function toYargs(table: Record<string, OptionSpec>): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const [name, spec] of Object.entries(table)) {
    const o = { type: spec.type, describe: spec.describe, default: spec.default, choices: spec.choices as string[] | undefined, alias: spec.alias, demandOption: spec.demandOption, array: spec.array };
    // Leave unset keys out: an explicit `default: undefined` makes yargs drop a flag given without
    // a value (`--resume` would read as not given).
    out[name] = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Options;
  }
  return out;
}

/** The flags yargs gives us, renamed to the schema's camelCase keys and validated; the first problem is a usage error. */
export function parseArgs<S extends z.ZodType>(schema: S, table: Record<string, OptionSpec>, raw: Record<string, unknown>, command: string): z.infer<S> {
  const picked = Object.fromEntries(Object.keys(table).map((k) => [camel(k), raw[camel(k)]]));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? '');
    if (issue && issue.path.length === 1 && Array.isArray(picked[key]) && !table[kebab(key)]?.array) {
      throw usageError(`--${kebab(key)} is given more than once (${(picked[key] as unknown[]).join(', ')})`, 'give it once');
    }
    const flagName = `--${kebab(key)}`;
    const message = issue?.message.startsWith('--') ? issue.message : `${flagName}: ${issue?.message ?? 'invalid'}`;
    throw usageError(message, `see \`ftplan ${command} --help\``);
  }
  return parsed.data;
}
