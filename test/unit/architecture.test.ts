/**
 * The shape of the code, checked: src/ has no import cycle, the planner is pure (no file system, no
 * environment, no addon: it prices what it is given), and only the addon's registration file and
 * its boundary headers include napi.h (the model code under native/ is plain LibTorch).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Every module a source file names (static imports, re-exports, type imports and dynamic imports). */
function specifiers(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/** The modules a file names only for their types (`import type`, `export type`, every name `type`): gone at run time. */
function typeOnly(file: string): Set<string> {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const out = new Set<string>();
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const c = st.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      if (c && (c.isTypeOnly || (!c.name && named && named.length > 0 && named.every((e) => e.isTypeOnly)))) out.add(st.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) && st.isTypeOnly) out.add(st.moduleSpecifier.text);
  }
  return out;
}

const toFile = (file: string, s: string) => resolve(dirname(file), s.replace(/\.js$/, '.ts'));

/** The src/ files a file imports, by relative specifier (`./x.js` is `./x.ts` on disk); `runtime`: leave type-only imports out. */
function localImports(file: string, runtime = false): string[] {
  const types = runtime ? typeOnly(file) : new Set<string>();
  return specifiers(file)
    .filter((s) => s.startsWith('.') && !types.has(s))
    .map((s) => toFile(file, s));
}

const sources = files(SRC, /\.ts$/);
const graph = new Map(sources.map((f) => [f, localImports(f)]));
const rel = (f: string) => relative(ROOT, f);

/** Each cycle once, as the files around it (Tarjan's strongly connected components of size > 1, or a self-import). */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.map(rel).sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('the import graph of src/', () => {
  it('resolves every relative import to a file in src/', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${rel(f)} -> ${rel(d)}`));
    expect(missing).toEqual([]);
  });

  it('has no cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one (the check itself)', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    expect(cycles(g)).toEqual([['a', 'b', 'c'].map((f) => relative(ROOT, f)).sort()]);
  });
});

describe('the planner', () => {
  const planner = sources.filter((f) => f.startsWith(join(SRC, 'planner') + '/'));
  /** The planner's files and every src/ file they load at run time (a type import loads nothing). */
  const reached = new Set<string>();
  const walk = (f: string) => {
    if (reached.has(f)) return;
    reached.add(f);
    for (const d of localImports(f, true)) walk(d);
  };
  planner.forEach(walk);

  it('exists', () => expect(planner.length).toBeGreaterThan(3));

  it('reads no file, no environment and no addon, itself or through what it imports', () => {
    const impure: string[] = [];
    for (const f of [...reached].sort()) {
      const text = readFileSync(f, 'utf8');
      const types = typeOnly(f);
      for (const s of specifiers(f).filter((x) => !types.has(x))) {
        if (/^(node:)?(fs|fs\/promises|child_process|os|worker_threads)$/.test(s)) impure.push(`${rel(f)} imports ${s}`);
        if (/(^|\/)native(\/[a-z-]+)?\.js$/.test(s) || s.endsWith('.node')) impure.push(`${rel(f)} imports the addon (${s})`);
      }
      if (/\bprocess\.env\b/.test(text)) impure.push(`${rel(f)} reads process.env`);
    }
    expect(impure).toEqual([]);
  });
});

describe('native/', () => {
  it('includes napi.h only in the registration file and its boundary headers (native/addon.cpp, native/js/)', () => {
    const includers = files(join(ROOT, 'native'), /\.(cpp|cc|h|hpp)$/)
      .filter((f) => /#\s*include\s*[<"]napi\.h[>"]/.test(readFileSync(f, 'utf8')))
      .map(rel);
    expect(includers.length).toBeGreaterThan(0);
    expect(includers.filter((f) => f !== 'native/addon.cpp' && !f.startsWith('native/js/'))).toEqual([]);
  });
});
