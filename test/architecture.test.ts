import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { architectureViolations, readImportGraph } from './support/architecture.ts';

const SRC = join(import.meta.dirname, '..', 'src');

/** A copy of src/ with one extra file planted in it, checked like the real tree. */
function violationsWith(path: string, text: string): string[] {
  const root = mkdtempSync(join(tmpdir(), 'kith-arch-'));
  try {
    cpSync(SRC, join(root, 'src'), { recursive: true });
    writeFileSync(join(root, 'src', path), text);
    return architectureViolations(readImportGraph(join(root, 'src')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('architecture', () => {
  it('src/ obeys the import rules: layers point down, modules meet through public files, no cycles', () => {
    const graph = readImportGraph(SRC);
    assert.ok(graph.size > 100, `only ${graph.size} files read`);
    assert.deepEqual(architectureViolations(graph), []);
  });

  it('fails on a planted import of a feature from the route toolkit', () => {
    const found = violationsWith(
      'http/planted.ts',
      "import { PostsService } from '../modules/posts/posts.service.ts';\nexport const x = PostsService;\n",
    );
    assert.deepEqual(found, [
      'src/http/planted.ts imports src/modules/posts/posts.service.ts: http must not import modules',
    ]);
  });

  it('fails when infra/, events/ or the kernel reach up, even for types', () => {
    const found = violationsWith(
      'events/planted.ts',
      "import type { Context } from '../app/context.ts';\nexport type X = Context;\n",
    );
    assert.deepEqual(found, [
      'src/events/planted.ts imports src/app/context.ts: events must not import app',
    ]);
  });

  it('lets a module name the context as a type only', () => {
    assert.deepEqual(
      violationsWith(
        'modules/posts/planted.ts',
        "import type { Context } from '../../app/context.ts';\nexport type X = Context;\n",
      ),
      [],
    );
    assert.deepEqual(
      violationsWith(
        'modules/posts/planted.ts',
        "import { createContext } from '../../app/context.ts';\nexport const x = createContext;\n",
      ),
      ['src/modules/posts/planted.ts imports src/app/context.ts: modules must not import app'],
    );
  });

  it("fails on a module reaching into another module's internals", () => {
    const found = violationsWith(
      'modules/comments/planted.ts',
      "import { feedRoutes } from '../feed/feed.routes.ts';\nexport const x = feedRoutes;\n",
    );
    assert.equal(found.length, 1);
    assert.match(
      found[0]!,
      /planted\.ts imports src\/modules\/feed\/feed\.routes\.ts: another module/,
    );
  });

  it('fails on an import cycle', () => {
    const root = mkdtempSync(join(tmpdir(), 'kith-arch-'));
    try {
      cpSync(SRC, join(root, 'src'), { recursive: true });
      writeFileSync(join(root, 'src', 'cycle-a.ts'), "import './cycle-b.ts';\n");
      writeFileSync(join(root, 'src', 'cycle-b.ts'), "import './cycle-a.ts';\n");
      const problems = architectureViolations(readImportGraph(join(root, 'src')));
      assert.deepEqual(problems, [
        'import cycle: src/cycle-a.ts -> src/cycle-b.ts -> src/cycle-a.ts',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
