/**
 * skypilot.ts — import a SkyPilot catalog (`vms.csv`, any cloud, any catalog version) as it is:
 * columns are found by header name (every cloud orders them differently), and the known quirks are
 * handled and counted rather than trusted:
 *   - GCP prices GPUs on separate accelerator rows (empty InstanceType): each is joined with its host
 *     VM (a2-highgpu-Ng for A100×N, g2-standard-* for L4, n1-standard-* for T4 and V100, a4-highgpu-8g
 *     for B200×8, …) and the two prices added, zone by zone, as SkyPilot does;
 *   - a spot price that is empty, zero, or not below on-demand is not offered (null);
 *   - fractional GPUs (Azure's 1/6 A10) and GPUs the planner has no data for are left out;
 *   - RunPod's GpuInfo gives GB under the name SizeInMiB (noticed and counted; the planner takes GPU
 *     memory from pricing/gpus.json, never from GpuInfo);
 *   - zones are folded into their region: the cheapest zone's on-demand and spot prices;
 *   - Vast's regions are its hosts' geolocation as SkyPilot's fetcher asks for it (georegion=true):
 *     "<state or country>, <country code>, <continent>", e.g. "Japan, JP, AS"; a host that names no
 *     state leaves the first part empty (", US, NA"), which is kept as "US, NA" (vastRegion) and
 *     spelled back SkyPilot's way for a launch (skypilotRegion).
 */
import { readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { FtplanError } from '../errors.js';
import { CLOUDS, PriceRowSchema, type Cloud, type PriceRow } from './rows.js';

export interface ImportCounts {
  rowsRead: number;
  /** rows with more fields than the header (Azure's unquoted "V1,V2"): read by column position */
  extraFields: number;
  /** rows with fewer fields than the header: skipped */
  shortRows: number;
  rowsKept: number;
  noGpu: number;
  gpuNotPlanned: Record<string, number>;
  fractionalGpu: number;
  missingPrice: number;
  negativePrice: number;
  duplicates: number;
  spotEmpty: number;
  spotNotCheaper: number;
  gcpAcceleratorRows: number;
  gcpNoHost: number;
  gpuInfoGbAsMib: number;
  zonesFolded: number;
  /** rows whose Region is empty: left out */
  noRegion: number;
}

export interface ImportResult {
  cloud: Cloud;
  rows: PriceRow[];
  counts: ImportCounts;
}

/** SkyPilot accelerator names -> the names of pricing/gpus.json. */
function normalizeGpu(cloud: Cloud, name: string, instanceType: string): string | null {
  const n = name.trim();
  const pcie = /pcie/i.test(instanceType) || (cloud === 'azure' && /^Standard_NCC?\d+ad/i.test(instanceType));
  switch (n) {
    case 'H100':
    case 'H100-SXM':
      return pcie ? 'H100-PCIe' : 'H100';
    case 'H100-MEGA':
      return 'H100';
    case 'H100-PCIe':
    case 'H100-PCIE':
      return 'H100-PCIe';
    case 'A100':
    case 'A100-40GB':
      return 'A100';
    case 'A100-80GB':
      return 'A100-80GB';
    case 'A6000':
    case 'RTXA6000': // Vast's name for the RTX A6000
      return 'A6000';
    case 'H200':
    case 'B200':
    case 'L40S':
    case 'L40':
    case 'L4':
    case 'T4':
    case 'V100':
    case 'V100-32GB':
    case 'RTX4090':
    case 'A10G':
    case 'A10':
      return n;
    default:
      return null;
  }
}

/** GCP: the host VM SkyPilot pairs with N accelerators (the smallest that carries them). */
function gcpHost(gpu: string, count: number): string | null {
  const pow = [1, 2, 4, 8].includes(count);
  switch (gpu) {
    case 'A100':
      return pow ? `a2-highgpu-${count}g` : count === 16 ? 'a2-megagpu-16g' : null;
    case 'A100-80GB':
      return pow ? `a2-ultragpu-${count}g` : null;
    case 'H100':
      return pow ? `a3-highgpu-${count}g` : null;
    case 'H100-MEGA':
      return count === 8 ? 'a3-megagpu-8g' : null;
    case 'H200':
      return count === 8 ? 'a3-ultragpu-8g' : null;
    case 'B200':
      return count === 8 ? 'a4-highgpu-8g' : null;
    case 'V100':
      // SkyPilot's V100 hosts: 8 vCPUs per GPU (its _NUM_ACC_TO_NUM_CPU, after AWS p3)
      return ({ 1: 'n1-standard-8', 2: 'n1-standard-16', 4: 'n1-standard-32', 8: 'n1-standard-64' } as Record<number, string>)[count] ?? null;
    case 'L4':
      return ({ 1: 'g2-standard-4', 2: 'g2-standard-24', 4: 'g2-standard-48', 8: 'g2-standard-96' } as Record<number, string>)[count] ?? null;
    case 'T4':
      return ({ 1: 'n1-standard-8', 2: 'n1-standard-16', 4: 'n1-standard-32' } as Record<number, string>)[count] ?? null;
    default:
      return null;
  }
}

/** A Vast region without its empty parts: ", US, NA" -> "US, NA"; "Japan, JP, AS" stays. */
export function vastRegion(raw: string): string {
  return raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .join(', ');
}

/**
 * A price row's region as SkyPilot's catalog spells it (what `resources.region` must match): Vast's
 * regions without a place name get their empty first part back; other clouds' are unchanged.
 */
/**
 * The accelerator name SkyPilot asks a cloud for: ftplan's GPU names are SkyPilot's own except where
 * a cloud's catalog spells one its own way (Vast lists the RTX A6000 as RTXA6000; "H100-PCIe" is
 * an H100 to SkyPilot, the instance type saying which).
 */
export function skypilotAccelerator(gpu: string, cloud: string | null | undefined): string {
  if (gpu === 'H100-PCIe') return 'H100';
  if (gpu === 'A6000' && cloud === 'vast') return 'RTXA6000';
  return gpu;
}

export function skypilotRegion(cloud: string, region: string): string {
  return cloud === 'vast' && region.split(',').length === 2 ? `, ${region}` : region;
}

const numOrNull = (v: unknown): number | null => {
  if (v === undefined || v === null || String(v).trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : NaN;
};

interface ZoneRow {
  instanceType: string;
  gpu: string;
  gpuCount: number;
  vCPUs: number | null;
  memoryGiB: number | null;
  region: string;
  zone: string;
  price: number;
  spot: number | null;
}

export function importSkypilot(file: string, cloud: string, meta: { source: string; asOf: string | null }, text?: string): ImportResult {
  if (!(CLOUDS as readonly string[]).includes(cloud)) {
    throw new FtplanError('ERR_USAGE', `--cloud ${cloud} is not one of ${CLOUDS.join(', ')}`, { fix: 'name the cloud the catalog is for' });
  }
  const c = cloud as Cloud;
  let table: string[][];
  try {
    table = parseCsv(text ?? readFileSync(file, 'utf8'), { skip_empty_lines: true, bom: true, relax_column_count: true }) as string[][];
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: not a readable CSV (${(e as Error).message})`, { fix: 'pass the vms.csv of a SkyPilot catalog (catalogs/v*/<cloud>/vms.csv)' });
  }
  const header = (table[0] ?? []).map((h) => h.trim());
  // Azure writes Generation "V1,V2" unquoted: such rows have extra fields past the header; the named
  // columns before them are intact. Rows with fewer fields than the header are unusable.
  let extraFields = 0;
  let shortRows = 0;
  const records: Record<string, string>[] = [];
  for (const fields of table.slice(1)) {
    if (fields.length < header.length) {
      shortRows++;
      continue;
    }
    if (fields.length > header.length) extraFields++;
    records.push(Object.fromEntries(header.map((h, i) => [h, fields[i] as string])));
  }
  const need = ['InstanceType', 'AcceleratorName', 'AcceleratorCount', 'Price', 'Region'];
  const missing = need.filter((h) => !header.includes(h));
  if (records.length === 0 || missing.length) {
    throw new FtplanError('ERR_INPUT', `${file}: ${records.length === 0 ? 'has no rows' : `is not a SkyPilot vms.csv (missing columns: ${missing.join(', ')})`}`, {
      fix: `a SkyPilot catalog has the columns ${need.join(', ')}, SpotPrice, vCPUs, MemoryGiB, …`,
    });
  }
  const counts: ImportCounts = {
    rowsRead: records.length + shortRows,
    extraFields,
    shortRows,
    rowsKept: 0,
    noGpu: 0,
    gpuNotPlanned: {},
    fractionalGpu: 0,
    missingPrice: 0,
    negativePrice: 0,
    duplicates: 0,
    spotEmpty: 0,
    spotNotCheaper: 0,
    gcpAcceleratorRows: 0,
    gcpNoHost: 0,
    gpuInfoGbAsMib: 0,
    zonesFolded: 0,
    noRegion: 0,
  };
  const validPrice = (price: number | null): price is number => {
    if (price === null || Number.isNaN(price)) counts.missingPrice++;
    else if (price <= 0) counts.negativePrice++;
    else return true;
    return false;
  };
  const notPlanned = (name: string) => {
    const key = /^tpu-/i.test(name) ? 'TPU' : name;
    counts.gpuNotPlanned[key] = (counts.gpuNotPlanned[key] ?? 0) + 1;
  };
  // GCP host VMs by type and zone, for the accelerator rows
  const hosts = new Map<string, { price: number; spot: number | null; vCPUs: number | null; memoryGiB: number | null }>();
  const zoneRows: ZoneRow[] = [];
  const gcpAccel: Record<string, string>[] = [];
  for (const r of records) {
    const gpuName = (r.AcceleratorName ?? '').trim();
    const price = numOrNull(r.Price);
    const spotRaw = numOrNull(r.SpotPrice);
    const zone = (r.AvailabilityZone ?? r.Region ?? '').trim() || (r.Region as string);
    if (c === 'gcp' && gpuName === '' && r.InstanceType) {
      // the catalog lists a4 (B200) hosts at 0 and the whole machine price on the B200 row
      if (price !== null && (price > 0 || (price === 0 && /^a4-/.test(r.InstanceType)))) hosts.set(`${r.InstanceType}|${zone}`, { price, spot: spotRaw !== null && (spotRaw > 0 || price === 0) ? spotRaw : null, vCPUs: numOrNull(r.vCPUs), memoryGiB: numOrNull(r.MemoryGiB) });
      continue;
    }
    if (gpuName === '') {
      counts.noGpu++;
      continue;
    }
    if (/SizeInMiB'?:\s*(\d+)/.test(r.GpuInfo ?? '') && Number(/SizeInMiB'?:\s*(\d+)/.exec(r.GpuInfo ?? '')?.[1]) < 1024) counts.gpuInfoGbAsMib++;
    if (c === 'gcp' && !r.InstanceType) {
      counts.gcpAcceleratorRows++;
      gcpAccel.push(r);
      continue;
    }
    const gpu = normalizeGpu(c, gpuName, r.InstanceType ?? '');
    if (!gpu) {
      notPlanned(gpuName);
      continue;
    }
    const count = Number(r.AcceleratorCount);
    if (!Number.isInteger(count) || count < 1) {
      counts.fractionalGpu++;
      continue;
    }
    if (!validPrice(price)) continue;
    const region = c === 'vast' ? vastRegion(r.Region as string) : (r.Region as string).trim();
    if (!region) {
      counts.noRegion++;
      continue;
    }
    zoneRows.push({ instanceType: r.InstanceType as string, gpu, gpuCount: count, vCPUs: numOrNull(r.vCPUs), memoryGiB: numOrNull(r.MemoryGiB), region, zone: c === 'vast' ? region : zone, price, spot: spotRaw });
  }
  for (const r of gcpAccel) {
    const gpuName = (r.AcceleratorName as string).trim();
    const count = Number(r.AcceleratorCount);
    const gpu = normalizeGpu(c, gpuName, '');
    if (!gpu) {
      notPlanned(gpuName);
      continue;
    }
    const hostType = gcpHost(gpuName, count);
    const zone = (r.AvailabilityZone ?? '').trim();
    const host = hostType ? hosts.get(`${hostType}|${zone}`) : undefined;
    if (!hostType || !host) {
      counts.gcpNoHost++;
      continue;
    }
    const price = numOrNull(r.Price);
    if (!validPrice(price)) continue;
    const accSpot = numOrNull(r.SpotPrice);
    const spot = accSpot !== null && accSpot > 0 && host.spot !== null ? accSpot + host.spot : null;
    const region = (r.Region as string).trim();
    if (!region) {
      counts.noRegion++;
      continue;
    }
    zoneRows.push({ instanceType: hostType, gpu, gpuCount: count, vCPUs: host.vCPUs, memoryGiB: host.memoryGiB, region, zone, price: price + host.price, spot });
  }
  // Fold zones into regions: the cheapest zone, for on-demand and for spot.
  const byRegion = new Map<string, { row: ZoneRow; zones: Set<string>; spots: number[] }>();
  for (const z of zoneRows) {
    // GCP's n1 hosts carry T4s or V100s: the GPU is part of what the row sells
    const key = `${z.instanceType}|${z.gpu}|${z.gpuCount}|${z.region}`;
    const seen = byRegion.get(key);
    let spot = z.spot;
    if (spot === null || Number.isNaN(spot) || spot <= 0) {
      counts.spotEmpty++;
      spot = null;
    } else if (spot >= z.price) {
      counts.spotNotCheaper++;
      spot = null;
    }
    if (!seen) {
      byRegion.set(key, { row: { ...z }, zones: new Set([z.zone]), spots: spot === null ? [] : [spot] });
      continue;
    }
    if (seen.zones.has(z.zone)) {
      counts.duplicates++;
      continue;
    }
    seen.zones.add(z.zone);
    counts.zonesFolded++;
    seen.row.price = Math.min(seen.row.price, z.price);
    if (spot !== null) seen.spots.push(spot);
  }
  const rows: PriceRow[] = [];
  for (const { row, zones, spots } of byRegion.values()) {
    const spot = spots.length ? Math.min(...spots) : null;
    const candidate = {
      cloud: c,
      instanceType: row.instanceType,
      gpu: row.gpu,
      gpuCount: row.gpuCount,
      vCPUs: row.vCPUs !== null && Number.isFinite(row.vCPUs) ? row.vCPUs : null,
      memoryGiB: row.memoryGiB !== null && Number.isFinite(row.memoryGiB) ? row.memoryGiB : null,
      region: row.region,
      price: Math.round(row.price * 1e6) / 1e6,
      spotPrice: spot === null ? null : Math.round(spot * 1e6) / 1e6,
      source: meta.source,
      asOf: meta.asOf,
      note: zones.size > 1 ? `cheapest of ${zones.size} zones` : '',
    };
    rows.push(PriceRowSchema.parse(candidate));
  }
  rows.sort((a, b) => a.cloud.localeCompare(b.cloud) || a.gpu.localeCompare(b.gpu) || a.gpuCount - b.gpuCount || a.price - b.price || a.region.localeCompare(b.region) || a.instanceType.localeCompare(b.instanceType));
  counts.rowsKept = rows.length;
  if (rows.length === 0) {
    throw new FtplanError('ERR_INPUT', `${file}: no GPU instance the planner knows (${Object.keys(counts.gpuNotPlanned).join(', ') || 'no GPU rows'}) with a valid price`, {
      fix: 'check that this is the catalog of the cloud named by --cloud',
    });
  }
  return { cloud: c, rows, counts };
}
