#!/usr/bin/env node
/**
 * Writes the configuration table of docs/CONFIGURATION.md from SETTINGS in src/config.ts (the
 * part between the `settings:start` and `settings:end` markers), formatted by prettier.
 * src/config.test.ts fails when the table and SETTINGS disagree.
 *
 *   node scripts/config-docs.ts
 */
import { readFile, writeFile } from 'node:fs/promises';
import * as prettier from 'prettier';
import { settingsMarkdown } from '../src/config.ts';

export const CONFIGURATION_DOC = new URL('../docs/CONFIGURATION.md', import.meta.url).pathname;
export const START =
  '<!-- settings:start (generated from src/config.ts: node scripts/config-docs.ts) -->';
export const END = '<!-- settings:end -->';

const text = await readFile(CONFIGURATION_DOC, 'utf8');
const start = text.indexOf(START);
const end = text.indexOf(END);
if (start < 0 || end < start) throw new Error(`${CONFIGURATION_DOC}: markers not found`);
const replaced = `${text.slice(0, start + START.length)}\n\n${settingsMarkdown()}\n\n${text.slice(end)}`;
const options = await prettier.resolveConfig(CONFIGURATION_DOC);
await writeFile(
  CONFIGURATION_DOC,
  await prettier.format(replaced, { ...options, filepath: CONFIGURATION_DOC }),
);
console.log(`wrote ${CONFIGURATION_DOC}`);
