#!/usr/bin/env node
// build-catalog.mjs — the shipped price table (pricing/catalog.csv), rebuilt from the price sources
// in shared/data with the same importer as `ftplan pricing import` (run `npm run build` first):
//   node scripts/build-catalog.mjs ../shared/data/pricing-sources > pricing/catalog.csv
// GCP, Azure, Lambda and Vast come from SkyPilot-format catalogs (anycloud-sh/catalog snapshots);
// AWS and RunPod, whose full catalogs are too large to keep, from the hand-checked price points
// (skypilot-org/skypilot-catalog v8 rows). Each row names its source and the date of its snapshot;
// the skypilot-catalog commits' dates were not recorded, so those rows carry no date and are
// reported as undated.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { catalogCsv, PriceRowSchema } from '../dist/pricing/catalog.js';
import { importSkypilot } from '../dist/pricing/skypilot.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node scripts/build-catalog.mjs <pricing-sources dir> > pricing/catalog.csv\n');
  process.exit(2);
}
const SNAPSHOTS = {
  gcp: { commit: '62ff0a987e0c257a89235415d2877812fb1aaf29', asOf: '2026-05-20' },
  azure: { commit: '62ff0a987e0c257a89235415d2877812fb1aaf29', asOf: '2026-05-20' },
  lambda: { commit: '4c0610266db3c729e55a84d8e0ffe1c96cd903ec', asOf: '2026-05-07' },
  vast: { commit: '336ccee4', asOf: '2026-04-29' },
};
const rows = [];
for (const [cloud, snap] of Object.entries(SNAPSHOTS)) {
  const r = importSkypilot(join(dir, 'skypilot-format', cloud, 'vms.csv'), cloud, {
    source: `github.com/anycloud-sh/catalog ${cloud}/vms.csv@${snap.commit.slice(0, 8)} (SkyPilot format)`,
    asOf: snap.asOf,
  });
  process.stderr.write(`${cloud}: ${r.rows.length} rows (${JSON.stringify(r.counts)})\n`);
  rows.push(...r.rows);
}
// AWS and RunPod: hand-checked points (the GCP/Azure/Lambda points there are checked by a test instead)
const points = parse(readFileSync(join(dir, 'price_points.csv'), 'utf8'), { columns: true });
const GPU = { A10G: 'A10G', L4: 'L4', A100: 'A100', 'A100-80GB': 'A100-80GB', H100: 'H100' };
for (const p of points.filter((p) => p.cloud === 'aws' || p.cloud === 'runpod')) {
  rows.push(
    PriceRowSchema.parse({
      cloud: p.cloud,
      instanceType: p.instance_type,
      gpu: GPU[p.accelerator],
      gpuCount: Number(p.accelerator_count),
      vCPUs: null,
      memoryGiB: null,
      region: p.region,
      price: Number(p.ondemand_usd_per_hr),
      spotPrice: p.spot_usd_per_hr ? Number(p.spot_usd_per_hr) : null,
      source: `github.com/${p.source_repo} ${p.source_path}@${p.source_commit.slice(0, 8)} (hand-checked price point)`,
      asOf: null,
      note: [p.spot_basis && `spot: ${p.spot_basis}`, p.note].filter(Boolean).join('; ').replace(/\s+/g, ' '),
    }),
  );
}
process.stdout.write(catalogCsv(rows));
process.stderr.write(`total ${rows.length} rows\n`);
