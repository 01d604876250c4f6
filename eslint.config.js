// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const modules = [
  'errors',
  'internal',
  'metrics',
  'profile',
  'cache',
  'resilience',
  'db',
  'concurrency',
  'http',
  'load',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'data/',
      'bench/results/',
      'test/artifacts/',
      'dashboard/vendor/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test() and describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'describe', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  // A module reaches another only through its index.ts.
  ...modules.map((mod) => ({
    files: [`src/${mod}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: modules
            .filter((other) => other !== mod && other !== 'internal' && other !== 'errors')
            .map((other) => ({
              group: [`../${other}/*`, `!../${other}/index.js`],
              message: `Import ${other} through its index.ts.`,
            })),
        },
      ],
    },
  })),
  // The service, CLI, benches and tests outside src/ use only the public API.
  {
    files: [
      'service/**/*.ts',
      'cli/**/*.ts',
      'bench/**/*.ts',
      'test/**/*.ts',
      'dashboard/**/*.ts',
      'experiments/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/src/**'], message: 'Use the public API: import from hotpath/<module>.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
