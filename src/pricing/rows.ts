/**
 * rows.ts — a GPU instance price row and a GPU's specification: the records, their schemas, and the
 * pure functions over rows (filter, effective price, freshness, CSV). No file is read here: the
 * loaders are catalog.ts (ftplan's tables, pricing/gpus.json) and skypilot.ts (SkyPilot's vms.csv).
 */
import { z } from 'zod';

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
export const GpusFileSchema = z.object({ schema: z.literal('ftplan.gpus/1'), note: z.string(), gpus: z.record(z.string(), GpuSchema) });

export function catalogCsv(rows: PriceRow[]): string {
  const esc = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${CATALOG_COLUMNS.join(',')}\n${rows.map((r) => CATALOG_COLUMNS.map((c) => esc(r[c])).join(',')).join('\n')}\n`;
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
