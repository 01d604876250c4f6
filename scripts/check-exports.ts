/**
 * Keeps the package's `exports` and `src/<module>/index.ts` true to each other, both ways:
 * every module folder (but internal/) has a subpath export whose conditions point at its
 * index, and every subpath export points at a module folder that exists.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
};

const problems: string[] = [];
const modules = readdirSync(resolve(root, 'src'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'internal')
  .map((d) => d.name);

for (const mod of modules) {
  if (!existsSync(resolve(root, 'src', mod, 'index.ts'))) {
    problems.push(`src/${mod}/ has no index.ts`);
    continue;
  }
  const entry = pkg.exports[`./${mod}`];
  if (entry === undefined || typeof entry === 'string') {
    problems.push(`package.json exports has no conditional entry "./${mod}"`);
    continue;
  }
  const want: Record<string, string> = {
    source: `./src/${mod}/index.ts`,
    types: `./dist/src/${mod}/index.d.ts`,
    default: `./dist/src/${mod}/index.js`,
  };
  for (const [cond, path] of Object.entries(want)) {
    if (entry[cond] !== path) problems.push(`exports["./${mod}"].${cond} should be ${path}`);
  }
  if (Object.keys(entry)[0] !== 'source') {
    problems.push(`exports["./${mod}"] must list "source" first`);
  }
  const text = readFileSync(resolve(root, 'src', mod, 'index.ts'), 'utf8');
  if (/export\s+\*/.test(text))
    problems.push(`src/${mod}/index.ts uses export *: list exports by name`);
  if (!text.includes('@module'))
    problems.push(`src/${mod}/index.ts lacks its /** @module */ header`);
}

for (const key of Object.keys(pkg.exports)) {
  if (key === './package.json') continue;
  const mod = key.replace(/^\.\//, '');
  if (!modules.includes(mod)) problems.push(`exports["${key}"] has no src/${mod}/index.ts`);
}

if (problems.length > 0) {
  for (const p of problems) console.error(`check-exports: ${p}`);
  process.exit(1);
}
console.log(`check-exports: ${modules.length} modules, exports match (${modules.join(', ')})`);
