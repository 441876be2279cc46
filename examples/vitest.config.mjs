// vitest for examples/*.vitest.test.mjs. The examples import the package by its own name, which here resolves to
// this checkout's dist/ rather than node_modules; vite would then transform dist/ as source and miss the CommonJS
// exports behind the ES-module wrappers. Externalising dist/ makes Node load it, as it does for an installed package.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['examples/*.vitest.test.mjs'],
    server: { deps: { external: [/\/dist\//] } },
  },
});
