/**
 * Replaces a generated section of the README (between its start and end markers), or with
 * `--check` fails when the README's section is not what the generator makes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const readme = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md');

/** `section` includes both markers; `what` names it and `rerun` says how to make it again. */
export function writeSection(start: string, end: string, section: string, what: string, rerun: string): void {
  const text = readFileSync(readme, 'utf8');
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < 0) throw new Error(`${readme}: the markers of ${what} are missing`);
  const next = text.slice(0, from) + section + text.slice(to + end.length);
  if (process.argv.includes('--check')) {
    if (next !== text) {
      console.error(`${readme}: ${what} is stale: run ${rerun}`);
      process.exit(1);
    }
    console.log(`README ${what}: up to date`);
  } else {
    writeFileSync(readme, next);
    console.log(`wrote ${what} of ${readme}`);
  }
}
