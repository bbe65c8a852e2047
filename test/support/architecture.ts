/**
 * The import rules of src/, checked over the real import graph (see ARCHITECTURE.md § Layout):
 *
 * - no import cycles among runtime imports (`import type` is erased and may point back);
 * - layers only import downwards: kernel (src/*.ts) < infra/ < events/, http/ < modules/ < app/
 *   < cli/, main.ts; a module may name the context (app/) only in `import type`;
 * - a module reaches another module only through its public files: index.ts, *.service.ts,
 *   *.repository.ts, *.schemas.ts, *.cache.ts.
 *
 * Test files (*.test.ts) sit beside the code they test and are outside these rules.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export interface Import {
  /** Path of the imported file, relative to the scanned root's parent (e.g. `src/http/auth.ts`). */
  target: string;
  typeOnly: boolean;
}

export type ImportGraph = Map<string, Import[]>;

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;
const DYNAMIC = /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Reads every relative import of the non-test `.ts` files under `srcDir`. */
export function readImportGraph(srcDir: string): ImportGraph {
  const base = dirname(resolve(srcDir));
  const graph: ImportGraph = new Map();
  for (const file of sourceFiles(resolve(srcDir))) {
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    const imports: Import[] = [];
    const add = (spec: string, typeOnly: boolean) =>
      imports.push({ target: relative(base, resolve(dirname(file), spec)), typeOnly });
    for (const m of text.matchAll(IMPORT)) add(m[2]!, m[1] !== undefined);
    for (const m of text.matchAll(DYNAMIC)) add(m[1]!, false);
    graph.set(relative(base, file), imports);
  }
  return graph;
}

type Layer = 'kernel' | 'infra' | 'events' | 'http' | 'modules' | 'app' | 'top';

function layerOf(path: string): Layer {
  const parts = path.split('/'); // src/<dir>/...
  if (parts.length === 2) return parts[1] === 'main.ts' ? 'top' : 'kernel';
  const dir = parts[1]!;
  if (dir === 'cli') return 'top';
  if (dir === 'infra' || dir === 'events' || dir === 'http' || dir === 'modules' || dir === 'app')
    return dir;
  return 'top';
}

/** Which layers each layer may import at run time. */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  kernel: ['kernel'],
  infra: ['kernel', 'infra'],
  events: ['kernel', 'infra', 'events'],
  http: ['kernel', 'infra', 'http'],
  modules: ['kernel', 'infra', 'events', 'http', 'modules'],
  app: ['kernel', 'infra', 'events', 'http', 'modules', 'app'],
  top: ['kernel', 'infra', 'events', 'http', 'modules', 'app', 'top'],
};

const PUBLIC_FILE = /(?:^index|\.service|\.repository|\.schemas|\.cache)\.ts$/;

/** Every broken rule, one line each; empty when the graph obeys them all. */
export function architectureViolations(graph: ImportGraph): string[] {
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    const from = layerOf(file);
    for (const { target, typeOnly } of imports) {
      const to = layerOf(target);
      const allowed =
        MAY_IMPORT[from].includes(to) || (typeOnly && from === 'modules' && to === 'app');
      if (!allowed) problems.push(`${file} imports ${target}: ${from} must not import ${to}`);
      if (from === 'modules' && to === 'modules') {
        const [, , mine] = file.split('/');
        const [, , theirs, ...rest] = target.split('/');
        if (mine !== theirs && !PUBLIC_FILE.test(rest.join('/'))) {
          problems.push(
            `${file} imports ${target}: another module only through index, service, repository, schemas or cache files`,
          );
        }
      }
    }
  }
  for (const cycle of runtimeCycles(graph))
    problems.push(`import cycle: ${[...cycle, cycle[0]].join(' -> ')}`);
  return problems;
}

/** Strongly connected components of more than one file (or a file importing itself). */
export function runtimeCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const edges = (file: string) =>
    (graph.get(file) ?? []).filter((i) => !i.typeOnly && graph.has(i.target)).map((i) => i.target);
  const visit = (file: string): void => {
    index.set(file, next);
    low.set(file, next);
    next += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of edges(file)) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      if (component.length > 1 || edges(file).includes(file)) cycles.push(component.reverse());
    }
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return cycles;
}
