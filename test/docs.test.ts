/**
 * The documentation stays true to the code: the README is a short guide whose
 * links and images exist; docs/configuration.md lists every variable of the
 * config schema with its default and every CLI flag; docs/errors.md lists
 * every error code of shared/errors.ts. No servers needed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { configSchema } from '../shared/config.js';
import { tileCommand } from '../cli/commands/tile.js';
import { devCommand } from '../cli/commands/dev.js';
import { apiCommand } from '../cli/commands/api.js';
import { workerCommand } from '../cli/commands/worker.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(repo, path), 'utf8');

/** Markdown links and images, `[text](target)` and `![alt](target)`, outside code blocks. */
function localLinks(markdown: string): Array<{ image: boolean; target: string }> {
  const prose = markdown.replace(/```[\s\S]*?```/g, '');
  const links: Array<{ image: boolean; target: string }> = [];
  for (const m of prose.matchAll(/(!?)\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[2]!;
    if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
    links.push({ image: m[1] === '!', target: target.split('#')[0]! });
  }
  return links;
}

/** Rows of every table whose first cell is a code span: first cell (unquoted) -> the other cells. */
function tableRows(markdown: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m) rows.set(m[1]!, m[2]!.split('|').map((c) => c.trim()));
  }
  return rows;
}

describe('README', () => {
  const readme = read('README.md');

  test('is a short guide: at most 350 lines and 3,500 words', () => {
    const lines = readme.split('\n').length - (readme.endsWith('\n') ? 1 : 0);
    const words = readme.split(/\s+/).filter(Boolean).length;
    assert.ok(lines <= 350, `README has ${lines} lines`);
    assert.ok(words <= 3500, `README has ${words} words`);
  });

  test('every linked file and image exists, with at least two screenshots from docs/', () => {
    const links = localLinks(readme);
    const missing = links.filter((l) => !existsSync(resolve(repo, l.target))).map((l) => l.target);
    assert.deepEqual(missing, [], 'README links to files that do not exist');
    const screenshots = links.filter((l) => l.image && l.target.startsWith('docs/') && /\.(png|jpe?g|webp)$/.test(l.target));
    assert.ok(screenshots.length >= 2, `README shows ${screenshots.length} images from docs/`);
    for (const doc of ['docs/configuration.md', 'docs/api.md', 'docs/errors.md', 'docs/architecture.md', 'docs/performance.md', 'docs/memory.md']) {
      assert.ok(links.some((l) => l.target === doc), `README does not link ${doc}`);
    }
  });

  test('links between the pages of docs/ resolve', () => {
    const pages = ['architecture', 'api', 'configuration', 'errors', 'memory', 'performance', 'howto-s3-cdn', 'howto-scaling-workers', 'tutorial-first-map', 'tutorial-embed', 'web-app', 'testing'];
    const missing: string[] = [];
    for (const page of pages) {
      const file = `docs/${page}.md`;
      for (const link of localLinks(read(file))) {
        // deploy.md is being written beside this work; the rest must exist.
        if (link.target === 'deploy.md') continue;
        if (!existsSync(resolve(repo, dirname(file), link.target))) missing.push(`${file} -> ${link.target}`);
      }
    }
    assert.deepEqual(missing, []);
  });
});

describe('docs/configuration.md', () => {
  const rows = tableRows(read('docs/configuration.md'));

  /** How the page writes a default: the value in a code span, or (unset) / (empty). */
  function shown(value: unknown): string {
    if (value === undefined) return '(unset)';
    if (value === '' || (Array.isArray(value) && value.length === 0)) return '(empty)';
    return `\`${Array.isArray(value) ? value.join(',') : String(value)}\``;
  }

  test('lists every variable of the config schema with the default the schema gives', () => {
    const defaults = configSchema.parse({}) as Record<string, unknown>;
    const problems: string[] = [];
    for (const name of Object.keys(configSchema.shape)) {
      const row = rows.get(name);
      if (!row) {
        problems.push(`${name}: missing`);
        continue;
      }
      const expected = shown(defaults[name]);
      if (!row[0]!.startsWith(expected)) problems.push(`${name}: the page says ${row[0]}, the schema ${expected}`);
      if (!row[1]) problems.push(`${name}: no meaning given`);
    }
    assert.deepEqual(problems, []);
  });

  test('lists every flag of every command', () => {
    const page = read('docs/configuration.md');
    const commands: Command[] = [tileCommand(), devCommand(), apiCommand(), workerCommand()];
    // Hidden options (tile's --progress-interval, for tests) are not for users.
    const missing = commands.flatMap((c) => c.options.filter((o) => !o.hidden).map((o) => o.long).filter((flag): flag is string => !!flag && !page.includes(`\`${flag}`)).map((flag) => `${c.name()} ${flag}`));
    assert.deepEqual(missing, []);
  });
});

describe('docs/errors.md', () => {
  test('lists every error code of shared/errors.ts', () => {
    const codes = new Set(read('shared/errors.ts').match(/HUGEMAP_ERR_[A-Z_]+/g));
    assert.ok(codes.size >= 20, `found only ${codes.size} codes`);
    const rows = tableRows(read('docs/errors.md'));
    const missing = [...codes].filter((c) => !rows.has(c));
    assert.deepEqual(missing, []);
    for (const [code, [status]] of rows) assert.match(status ?? '', /^\d{3}/, `${code} has no HTTP status`);
  });
});
