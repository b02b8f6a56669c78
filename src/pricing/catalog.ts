/**
 * catalog.ts — the price tables in force: the shipped table (pricing/catalog.csv), user tables
 * (imported SkyPilot catalogs, --catalog files) and the GPU table (pricing/gpus.json), read and
 * validated. The row records and the pure functions over them are rows.ts's (re-exported here, so a
 * caller that loads rows imports one module). Fetching prices is separate (SkyPilot's catalog
 * fetchers, or scripts/build-catalog.mjs for the shipped table); this file only reads.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { FtplanError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { CATALOG_COLUMNS, CLOUDS, GpusFileSchema, PriceRowSchema, type GpuSpec, type PriceRow } from './rows.js';
import { importSkypilot } from './skypilot.js';

export * from './rows.js';

export const SHIPPED_CATALOG = join(PACKAGE_ROOT, 'pricing/catalog.csv');
export const GPUS_FILE = join(PACKAGE_ROOT, 'pricing/gpus.json');

/** Where `ftplan pricing import` keeps imported catalogs. */
export function userCatalogDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.FTPLAN_HOME ? join(env.FTPLAN_HOME, 'catalogs') : join(env.HOME ?? homedir(), '.ftplan', 'catalogs');
}

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
    // one GCP n1 host type is sold with T4s or with V100s: the GPU and its count are part of the key
    const key = `${row.cloud}|${row.instanceType}|${row.gpu}|${row.gpuCount}|${row.region}`;
    if (seen.has(key)) {
      throw new FtplanError('ERR_INPUT', `${file}:${i + 2}: duplicate row for ${row.cloud} ${row.instanceType} in ${row.region}`, { fix: 'keep one row per cloud, instance type, GPU and region' });
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
  const m = new RegExp(`^(${CLOUDS.join('|')})=(.+)$`).exec(spec);
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

