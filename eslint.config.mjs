// One lint configuration for the whole workspace. The module-boundary rule is
// the architecture's guard: apps depend on libs, libs never on apps, and the
// agent's and the collector's private libs stay theirs.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const depConstraints = (testbedToo) =>
  [
    { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
    { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
    { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib'] },
    // Test hosts (namespaces, nginx, PostgreSQL) serve tests and the demo, never the product.
    { sourceTag: 'scope:testbed', onlyDependOnLibsWithTags: ['scope:shared'] },
    { sourceTag: 'scope:demo', onlyDependOnLibsWithTags: ['scope:shared', 'scope:testbed'] },
    { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
    { sourceTag: 'scope:agent', onlyDependOnLibsWithTags: ['scope:shared', 'scope:agent'] },
    { sourceTag: 'scope:collector', onlyDependOnLibsWithTags: ['scope:shared', 'scope:collector'] },
    { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:shared'] },
  ].map((c) =>
    testbedToo && c.sourceTag.startsWith('scope:') ? { ...c, onlyDependOnLibsWithTags: [...c.onlyDependOnLibsWithTags, 'scope:testbed'] } : c,
  );

const boundaries = (testbedToo) => ['error', { enforceBuildableLibDependency: true, allow: [], depConstraints: depConstraints(testbedToo) }];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/build/**', '**/gen/**', '**/node_modules/**', '.tools/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
      '@nx/enforce-module-boundaries': boundaries(false),
    },
  },
  {
    // Tests (and their helpers in test-support/) may also build their hosts and databases with the testbed.
    files: ['**/*.test.ts', '**/test-support/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(true) },
  },
);
