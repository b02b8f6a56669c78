/**
 * read-rows.ts — one data file into rows: jsonl, json, csv, tsv, parquet (decoded in a child process,
 * so a hostile file's decoder cannot take the CLI down). Every failure names the file and the fix.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { deserialize } from 'node:v8';
import { parse as parseCsv } from 'csv-parse/sync';
import { parquetMetadata } from 'hyparquet';
import { FtplanError } from '../errors.js';
import { checkParquetStructure } from './parquet-guard.js';

export type Row = Record<string, unknown>;

export const FORMATS = ['.jsonl', '.json', '.csv', '.tsv', '.parquet'];

export function inputError(file: string, message: string, fix: string): FtplanError {
  return new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
}

function readJsonl(file: string, text: string): Row[] {
  const rows: Row[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw inputError(`${file}:${i + 1}`, `not JSON (${(e as Error).message.split('\n')[0]})`, 'each line of a .jsonl file must be one JSON object; fix or remove that line');
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw inputError(`${file}:${i + 1}`, 'is not a JSON object', 'each line of a .jsonl file must be one JSON object like {"text": …, "label": …}');
    }
    rows.push(row as Row);
  }
  return rows;
}

function readJson(file: string, text: string): Row[] {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('[')) return readJsonl(file, text); // many ".json" data files are JSON lines
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw inputError(file, `not JSON (${(e as Error).message})`, 'a .json data file must be an array of objects, or JSON lines');
  }
  if (!Array.isArray(data) || data.some((r) => r === null || typeof r !== 'object' || Array.isArray(r))) {
    throw inputError(file, 'is not an array of objects', 'a .json data file must be an array of objects, or JSON lines');
  }
  return data as Row[];
}

function readDelimited(file: string, text: string, delimiter: string): Row[] {
  try {
    return parseCsv(text, { columns: true, delimiter, skip_empty_lines: true, bom: true, relax_quotes: delimiter === '\t' }) as Row[];
  } catch (e) {
    const err = e as { message: string; lines?: number };
    throw inputError(
      err.lines ? `${file}:${err.lines}` : file,
      `not valid ${delimiter === '\t' ? 'TSV' : 'CSV'} (${err.message})`,
      'the first line must name the columns and every row must have the same number of fields (quote fields that contain the delimiter)',
    );
  }
}

/**
 * The decoding runs in a child process: hyparquet trusts counts inside a file's pages (a corrupt RLE
 * run of 160 million values grows a JS array past V8's limit, found by the fuzzer), and such a
 * failure is a fatal V8 error that no try/catch sees — it would abort ftplan. In a child it is only
 * that child's exit, reported as the file's error. The rows come back through the V8 serializer
 * (BigInt, Date and byte arrays intact). About 0.1 s per file.
 */
const PARQUET_CHILD = `
const [hyparquet, compressorsUrl, file] = process.argv.slice(1);
const fail = (e) => { process.stderr.write(String(e && e.message || e).split('\\n')[0]); process.exit(3); };
process.on('unhandledRejection', fail);
(async () => {
  const { parquetMetadata, parquetReadObjects } = await import(hyparquet);
  const { compressors } = await import(compressorsUrl);
  const b = (await import('node:fs')).readFileSync(file);
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  parquetMetadata(ab);
  const rows = await parquetReadObjects({ file: ab, compressors });
  await new Promise((r) => setImmediate(r));
  process.stdout.write((await import('node:v8')).serialize(rows));
})().catch(fail);
`;

function decodeInChild(file: string): Promise<Row[]> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['-e', PARQUET_CHILD, import.meta.resolve('hyparquet'), import.meta.resolve('hyparquet-compressors'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', rej);
    child.on('close', (code, signal) => {
      if (code === 0) {
        try {
          res(deserialize(Buffer.concat(out)) as Row[]);
        } catch (e) {
          rej(e);
        }
        return;
      }
      const fatal = (/Fatal JavaScript[^\n]*/.exec(err) ?? /Fatal[^\n]*/.exec(err))?.[0];
      rej(new Error(code === 3 ? err.trim() : `the decoder aborted (${signal ?? `exit ${code}`}${fatal ? `: ${fatal.trim()}` : ''})`));
    });
  });
}

async function readParquet(file: string, bytes: Buffer): Promise<Row[]> {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    checkParquetStructure(ab); // footer and page headers, before anything is decoded
    parquetMetadata(ab);
    return await decodeInChild(file);
  } catch (e) {
    throw inputError(file, `not a readable parquet file (${(e as Error)?.message ?? String(e)})`, 'the file may be truncated or not parquet: download it again');
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function readRows(file: string): Promise<Row[]> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw inputError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path and its permissions');
  }
  const ext = extname(file).toLowerCase();
  if (ext === '.parquet') return readParquet(file, bytes);
  if (!FORMATS.includes(ext)) {
    throw inputError(file, `unknown data file type '${ext || '(none)'}'`, `use one of ${FORMATS.join(', ')}`);
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw inputError(file, 'is not UTF-8 text', 'convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)');
  }
  if (text.trim() === '') throw inputError(file, 'is empty', 'point --dataset at a file with rows');
  if (ext === '.jsonl') return readJsonl(file, text);
  if (ext === '.json') return readJson(file, text);
  return readDelimited(file, text, ext === '.tsv' ? '\t' : ',');
}
