/**
 * pricing.ts — `ftplan pricing` (list and filter the price rows in force, cheapest first) and
 * `ftplan pricing import <vms.csv> --cloud X` (a SkyPilot catalog, as it is, into the user's
 * catalog folder, replacing the shipped rows of that cloud). No LibTorch needed.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Table from 'cli-table3';
import { FtplanError } from '../errors.js';
import { catalogCsv, effectivePrice, filterRows, freshness, loadCatalog, loadGpus, userCatalogDir, type PriceRow } from '../pricing/catalog.js';
import { writeFileAtomic } from '../util/fs.js';
import { importSkypilot } from '../pricing/skypilot.js';
import { groupRegions, regionCell } from '../report/table.js';
import { IMPORT_OPTIONS, ImportArgsSchema, parseArgs, PRICING_OPTIONS, PricingArgsSchema } from './options.js';

export function listPricing(raw: Record<string, unknown>, now = new Date()) {
  const args = parseArgs(PricingArgsSchema, PRICING_OPTIONS, raw, 'pricing');
  const { rows, sources } = loadCatalog({ catalogs: args.catalog });
  const picked = filterRows(rows, args).sort((a, b) => effectivePrice(a, args.spot) - effectivePrice(b, args.spot) || a.cloud.localeCompare(b.cloud));
  const withAge = picked.map((r) => ({ ...r, pricePerHour: effectivePrice(r, args.spot), freshness: freshness(r, now, args.maxAgeDays) }));
  return { args, sources, rows: withAge };
}

/** What makes two price rows the same offer in every way but the region. */
export const offerKey = (r: PriceRow & { pricePerHour: number; freshness: string }): string =>
  [r.cloud, r.instanceType, r.gpu, r.gpuCount, r.pricePerHour, r.price, r.spotPrice, r.asOf, r.freshness, r.source].join('|');

function render(result: ReturnType<typeof listPricing>): string {
  const { args, rows, sources } = result;
  // One line per offer (the same instance at the same prices, from the same source) with its
  // regions counted, as the plan table does; --json keeps every region's row.
  const groups = groupRegions(rows, offerKey);
  const shown = args.limit ? groups.slice(0, args.limit) : groups;
  const t = new Table({ head: ['cloud', 'instance', 'GPUs', 'region', args.spot ? 'spot $/h' : '$/h', 'spot $/h', 'as of', 'source'], style: { head: [], border: [] }, wordWrap: true, colWidths: [8, 26, 14, 30, 10, 10, 12, 34] });
  for (const g of shown) {
    const r = g.row;
    t.push([r.cloud, r.instanceType, `${r.gpuCount}× ${r.gpu}`, regionCell(g), r.pricePerHour.toFixed(4), r.spotPrice === null ? '—' : r.spotPrice.toFixed(4), r.asOf ? `${r.asOf}${r.freshness === 'stale' ? ' (stale)' : ''}` : 'undated', r.source]);
  }
  const stale = rows.filter((r) => r.freshness !== 'fresh').length;
  const known = new Set(Object.keys(loadGpus()));
  const unknown = [...new Set(rows.filter((r) => !known.has(r.gpu)).map((r) => r.gpu))];
  return [
    t.toString(),
    `${shown.length} of ${groups.length} offers, cheapest first (${rows.length} instance × region rows; --json lists each); from ${sources.map((s) => `${s.file} (${s.kind}, ${s.rows} rows)`).join(', ')}`,
    unknown.length ? `warning: pricing/gpus.json has no data for ${unknown.join(', ')}: plans leave those rows out (known: ${[...known].join(', ')})` : '',
    stale ? `warning: ${stale} of these prices are older than ${args.maxAgeDays} days or undated: re-import a fresh SkyPilot catalog (ftplan pricing import)` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export async function runPricing(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const result = listPricing(raw);
  if (result.rows.length === 0) {
    throw new FtplanError('ERR_INPUT', 'no price rows match these filters', { fix: 'loosen --gpu / --cloud / --region / --gpus / --spot' });
  }
  if (result.args.json) {
    out(`${JSON.stringify({ schema: 'ftplan.pricing/1', sources: result.sources, maxAgeDays: result.args.maxAgeDays, rows: result.rows satisfies (PriceRow & { pricePerHour: number; freshness: string })[] }, null, 2)}\n`);
  } else out(`${render(result)}\n`);
}

export async function runImport(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseArgs(ImportArgsSchema, IMPORT_OPTIONS, raw, 'pricing import');
  const file = resolve(args.file);
  let asOf = args.asOf;
  try {
    asOf ??= statSync(file).mtime.toISOString().slice(0, 10);
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: cannot be read (${(e as NodeJS.ErrnoException).code})`, { fix: 'pass the path of a SkyPilot vms.csv' });
  }
  const result = importSkypilot(file, args.cloud, { source: args.source ?? file, asOf });
  const dir = userCatalogDir();
  mkdirSync(dir, { recursive: true });
  const target = join(dir, `${args.cloud}.csv`);
  writeFileAtomic(target, catalogCsv(result.rows));
  if (args.json) out(`${JSON.stringify({ file, cloud: args.cloud, asOf, written: target, counts: result.counts }, null, 2)}\n`);
  else {
    const c = result.counts;
    const skipped = Object.entries(c.gpuNotPlanned).map(([g, n]) => `${g} ${n}`).join(', ');
    out(
      [
        `imported ${c.rowsKept} ${args.cloud} rows (${c.rowsRead} read) into ${target}, as of ${asOf}; they replace the shipped ${args.cloud} rows`,
        `  zones folded into regions: ${c.zonesFolded}; GCP accelerator rows joined with hosts: ${c.gcpAcceleratorRows - c.gcpNoHost} (no host: ${c.gcpNoHost})`,
        `  spot not offered: ${c.spotEmpty} empty/zero, ${c.spotNotCheaper} not below on-demand; fractional GPUs: ${c.fractionalGpu}; bad prices: ${c.missingPrice + c.negativePrice}; duplicates: ${c.duplicates}`,
        `  rows with extra fields (read by position): ${c.extraFields}; short rows skipped: ${c.shortRows}; GpuInfo in GB under SizeInMiB: ${c.gpuInfoGbAsMib}`,
        `  left out: ${c.noGpu} without a GPU${c.noRegion ? `; ${c.noRegion} without a region` : ''}${skipped ? `; GPUs the planner has no data for: ${skipped}` : ''}`,
      ].join('\n') + '\n',
    );
  }
}
