/**
 * catalog.ts — GPU instance price rows: the typed record, the schema, the shipped table
 * (pricing/catalog.csv) and user tables (imported SkyPilot catalogs, --catalog files), the GPU table
 * (pricing/gpus.json), filtering, and the age check. Fetching prices is separate (SkyPilot's
 * catalog fetchers, or scripts/build-catalog.mjs for the shipped table); this file only reads.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { FtplanError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { importSkypilot } from './skypilot.js';

export const CLOUDS = ['aws', 'gcp', 'azure', 'lambda', 'runpod', 'vast'] as const;
export type Cloud = (typeof CLOUDS)[number];

export const PriceRowSchema = z
  .object({
    cloud: z.enum(CLOUDS),
    instanceType: z.string().min(1),
    gpu: z.string().min(1),
    gpuCount: z.number().int().min(1).max(16),
    vCPUs: z.number().nonnegative().nullable(),
    memoryGiB: z.number().nonnegative().nullable(),
    region: z.string().min(1),
    /** on-demand $/h for the whole instance */
    price: z.number().positive().finite(),
    /** spot/preemptible $/h, null when not offered */
    spotPrice: z.number().positive().finite().nullable(),
    /** where the row comes from: repo/path@commit or a URL */
    source: z.string().min(1),
    /** the date the price was read at the source (YYYY-MM-DD); null when the source has no date */
    asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).nullable(),
    note: z.string(),
  })
  .strict();

export type PriceRow = z.infer<typeof PriceRowSchema>;

export const CATALOG_COLUMNS = ['cloud', 'instanceType', 'gpu', 'gpuCount', 'vCPUs', 'memoryGiB', 'region', 'price', 'spotPrice', 'source', 'asOf', 'note'] as const;

export const SHIPPED_CATALOG = join(PACKAGE_ROOT, 'pricing/catalog.csv');
export const GPUS_FILE = join(PACKAGE_ROOT, 'pricing/gpus.json');

/** Where `ftplan pricing import` keeps imported catalogs. */
export function userCatalogDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.FTPLAN_HOME ? join(env.FTPLAN_HOME, 'catalogs') : join(env.HOME ?? homedir(), '.ftplan', 'catalogs');
}

const GpuSchema = z
  .object({
    memoryGiB: z.number().positive(),
    bf16: z.number().positive().nullable(),
    fp16: z.number().positive(),
    tf32: z.number().positive().nullable(),
    fp32: z.number().positive(),
    memoryBandwidthGBs: z.number().positive(),
    interconnect: z.object({ kind: z.string(), GBs: z.number().positive() }),
    source: z.string().min(10),
  })
  .strict();
export type GpuSpec = z.infer<typeof GpuSchema>;
const GpusFileSchema = z.object({ schema: z.literal('ftplan.gpus/1'), note: z.string(), gpus: z.record(z.string(), GpuSchema) });

export function loadGpus(path = GPUS_FILE): Record<string, GpuSpec> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${path}: not readable JSON (${(e as Error).message})`, { fix: 'restore pricing/gpus.json from the package' });
  }
  const parsed = GpusFileSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new FtplanError('ERR_INPUT', `${path}: ${i?.path.join('.')}: ${i?.message}`, { fix: 'every GPU needs memoryGiB, peaks, bandwidth, interconnect and a source' });
  }
  return parsed.data.gpus;
}

function num(v: string): number | null {
  if (v === undefined || v === null || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : NaN;
}

/** Read a catalog in ftplan's own CSV layout (header by name), validating every row. */
export function readCatalog(file: string): PriceRow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { fix: 'check the --catalog path' });
  }
  let records: Record<string, string>[];
  try {
    records = parseCsv(text, { columns: true, skip_empty_lines: true, bom: true }) as Record<string, string>[];
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: not valid CSV (${(e as Error).message})`, { fix: 'fix the CSV, or re-import the SkyPilot catalog with `ftplan pricing import`' });
  }
  const header = records[0] ? Object.keys(records[0]) : [];
  const missing = CATALOG_COLUMNS.filter((c) => !header.includes(c));
  if (records.length === 0 || missing.length) {
    const skypilot = header.includes('InstanceType') && header.includes('Price');
    throw new FtplanError('ERR_INPUT', `${file}: ${records.length === 0 ? 'has no rows' : `is not an ftplan catalog (missing columns: ${missing.join(', ')})`}`, {
      fix: skypilot ? `this is a SkyPilot vms.csv: import it with \`ftplan pricing import ${file} --cloud <cloud>\`` : `a catalog needs the columns ${CATALOG_COLUMNS.join(', ')}`,
    });
  }
  const seen = new Set<string>();
  return records.map((r, i) => {
    const row = {
      cloud: r.cloud,
      instanceType: r.instanceType,
      gpu: r.gpu,
      gpuCount: num(r.gpuCount as string),
      vCPUs: num(r.vCPUs as string),
      memoryGiB: num(r.memoryGiB as string),
      region: r.region,
      price: num(r.price as string),
      spotPrice: num(r.spotPrice as string),
      source: r.source,
      asOf: r.asOf?.trim() ? r.asOf.trim() : null,
      note: r.note ?? '',
    };
    const parsed = PriceRowSchema.safeParse(row);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new FtplanError('ERR_INPUT', `${file}:${i + 2}: ${issue?.path.join('.')}: ${issue?.message} (got ${JSON.stringify((row as Record<string, unknown>)[String(issue?.path[0])])})`, {
        fix: 'every row needs a known cloud, a positive price, a GPU count, a source and an as-of date (YYYY-MM-DD, or empty when the source has none)',
      });
    }
    const key = `${row.cloud}|${row.instanceType}|${row.region}`;
    if (seen.has(key)) {
      throw new FtplanError('ERR_INPUT', `${file}:${i + 2}: duplicate row for ${row.cloud} ${row.instanceType} in ${row.region}`, { fix: 'keep one row per cloud, instance type and region' });
    }
    seen.add(key);
    return parsed.data;
  });
}

/**
 * `--catalog` takes ftplan's own CSV, or a SkyPilot vms.csv as it is: `[cloud=]path`, the cloud
 * named or taken from the folder (…/gcp/vms.csv), the date from the file's modification time.
 */
export function readAnyCatalog(spec: string): { file: string; rows: PriceRow[] } {
  const m = /^(aws|gcp|azure|lambda|runpod|vast)=(.+)$/.exec(spec);
  const file = m ? (m[2] as string) : spec;
  let head = '';
  try {
    head = readFileSync(file, 'utf8').slice(0, 2000).split('\n')[0] ?? '';
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { fix: 'check the --catalog path' });
  }
  if (!/\bInstanceType\b/.test(head)) return { file, rows: readCatalog(file) };
  const cloud = m?.[1] ?? basename(dirname(resolvePath(file))).toLowerCase();
  if (!(CLOUDS as readonly string[]).includes(cloud)) {
    throw new FtplanError('ERR_INPUT', `${file}: a SkyPilot catalog, but its cloud is not known from its folder ('${cloud}')`, { fix: `name it: --catalog gcp=${file} (one of ${CLOUDS.join(', ')})` });
  }
  return { file, rows: importSkypilot(file, cloud, { source: file, asOf: statSync(file).mtime.toISOString().slice(0, 10) }).rows };
}

export function catalogCsv(rows: PriceRow[]): string {
  const esc = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${CATALOG_COLUMNS.join(',')}\n${rows.map((r) => CATALOG_COLUMNS.map((c) => esc(r[c])).join(',')).join('\n')}\n`;
}

export interface CatalogSource {
  file: string;
  rows: number;
  kind: 'shipped' | 'imported' | '--catalog';
}

/**
 * All price rows in force: `--catalog` files when given (only those), else the shipped table with
 * imported catalogs replacing the shipped rows of their cloud.
 */
export function loadCatalog(opts: { catalogs?: string[]; env?: NodeJS.ProcessEnv } = {}): { rows: PriceRow[]; sources: CatalogSource[] } {
  if (opts.catalogs?.length) {
    const sources: CatalogSource[] = [];
    const rows = opts.catalogs.flatMap((spec) => {
      const r = readAnyCatalog(spec);
      sources.push({ file: r.file, rows: r.rows.length, kind: '--catalog' });
      return r.rows;
    });
    return { rows, sources };
  }
  const shipped = readCatalog(SHIPPED_CATALOG);
  const sources: CatalogSource[] = [{ file: SHIPPED_CATALOG, rows: shipped.length, kind: 'shipped' }];
  const dir = userCatalogDir(opts.env);
  const imported: PriceRow[] = [];
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.csv')).sort()) {
      const r = readCatalog(join(dir, f));
      imported.push(...r);
      sources.push({ file: join(dir, f), rows: r.length, kind: 'imported' });
    }
  }
  const replaced = new Set(imported.map((r) => r.cloud));
  return { rows: [...shipped.filter((r) => !replaced.has(r.cloud)), ...imported], sources };
}

export interface RowFilter {
  gpu?: string;
  cloud?: string;
  region?: string;
  gpus?: number;
  spot?: boolean;
}

export function filterRows(rows: PriceRow[], f: RowFilter): PriceRow[] {
  const gpu = f.gpu?.toLowerCase();
  return rows.filter(
    (r) =>
      (!gpu || r.gpu.toLowerCase() === gpu || r.gpu.toLowerCase().startsWith(`${gpu}-`)) &&
      (!f.cloud || r.cloud === f.cloud.toLowerCase()) &&
      (!f.region || r.region.toLowerCase().includes(f.region.toLowerCase())) &&
      (!f.gpus || r.gpuCount === f.gpus) &&
      (!f.spot || r.spotPrice !== null),
  );
}

/** The price a plan pays: spot when asked for and offered, else on-demand. */
export function effectivePrice(r: PriceRow, spot: boolean): number {
  return spot && r.spotPrice !== null ? r.spotPrice : r.price;
}

export function ageDays(r: PriceRow, now: Date): number | null {
  if (!r.asOf) return null;
  return Math.floor((now.getTime() - new Date(`${r.asOf}T00:00:00Z`).getTime()) / 86_400_000);
}

/** 'fresh', 'stale' (older than maxAgeDays) or 'undated'. */
export function freshness(r: PriceRow, now: Date, maxAgeDays: number): 'fresh' | 'stale' | 'undated' {
  const age = ageDays(r, now);
  if (age === null) return 'undated';
  return age > maxAgeDays ? 'stale' : 'fresh';
}
