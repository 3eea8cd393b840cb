// One lint config for the whole repo. Besides the usual rules it holds the layering that
// STYLE.md asks for (test/lint/layers.test.ts checks that each forbidden direction fails):
//
//   shared/           zod and shared/ only                  (runs in Node and in the browser)
//   renderer/         shared/ and the browser packages listed below
//   electron/engine   shared/ and packages; not service, server, main, preload, cli, electron
//     train/          not validate/ (validate/ builds on train/; common helpers live in util/)
//   electron/service  + engine;        not server, main, preload, cli, electron
//   electron/server   + service;       not main, preload, cli, electron
//   electron/cli      + server;        not main, preload, electron
//   electron/main     electron, shared/, service's worker protocol; not preload, cli, server
//   electron/preload  electron and shared/ only               (sandboxed)
//   no layer imports test/, bench/ or scripts/
//
// Files are judged by where an import resolves (import-x/no-restricted-paths), so '../x' and
// '../../electron/x' cannot slip past a pattern. Packages and Node built-ins are judged by name
// (no-restricted-imports), since built-ins resolve to no file and node_modules may live elsewhere.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'
import importX, { createNodeResolver } from 'eslint-plugin-import-x'

const root = import.meta.dirname

/** no-restricted-imports options that allow no package or built-in except `allowed` (a regex alternation). */
const onlyPackages = (allowed, message) => ({ patterns: [{ regex: `^(?![./])(?!(?:${allowed})(?:/|$))`, message }] })
const electronMessage = 'engine, service, server and CLI run in plain Node: only electron/main and electron/preload import electron.'

// Folders no product code may import.
const devOnly = ['test', 'bench', 'scripts']

/** A zone: files under `target` may not import files under `from` (paths relative to the repo root). */
const zones = [
  {
    target: 'shared',
    from: '.',
    except: ['./shared', './node_modules'],
    message: 'shared/ is the contract: it imports no file outside shared/.',
  },
  {
    target: 'renderer',
    from: '.',
    except: ['./renderer', './shared', './node_modules'],
    message: 'renderer/ talks to the engine only through shared/.',
  },
  {
    target: 'electron/preload',
    from: '.',
    except: ['./electron/preload', './shared', './node_modules'],
    message: 'the sandboxed preload imports no file outside preload/ and shared/.',
  },
  {
    target: 'electron/engine',
    from: ['electron/service', 'electron/server', 'electron/main', 'electron/preload', 'electron/cli', 'renderer', ...devOnly],
    message: 'the engine is the bottom layer: service, server, CLI and the Electron shell call it, never the reverse.',
  },
  {
    target: 'electron/engine/train',
    from: 'electron/engine/validate',
    message: 'validate/ builds on train/, so train/ may not import validate/: move what both need to engine/util/.',
  },
  {
    target: 'electron/service',
    from: ['electron/server', 'electron/main', 'electron/preload', 'electron/cli', 'renderer', ...devOnly],
    message: 'the service may import the engine and shared/ only; the server, the CLI and main call it.',
  },
  {
    target: 'electron/server',
    from: ['electron/main', 'electron/preload', 'electron/cli', 'renderer', ...devOnly],
    message: 'the server may import the service, the engine and shared/ only.',
  },
  {
    target: 'electron/cli',
    from: ['electron/main', 'electron/preload', 'renderer', ...devOnly],
    message: 'the CLI may import the engine, the service, the server and shared/ only.',
  },
  {
    target: 'electron/main',
    from: ['electron/preload', 'electron/cli', 'electron/server', 'renderer', ...devOnly],
    message: 'main runs the service in a utility process and talks to it and to the renderer through shared/ contracts.',
  },
]

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', 'dist/', '.scratch/', 'resources/', 'docs/', 'test-output/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
    // <script lang="ts"> is type-checked by vue-tsc, which knows the DOM globals; no-undef does not.
    rules: { 'no-undef': 'off' },
  },
  {
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        fetch: 'readonly',
        window: 'readonly',
        document: 'readonly',
        localStorage: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        performance: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
        setImmediate: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'warn',
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-indent': 'off',
      'vue/html-closing-bracket-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
    },
  },
  {
    plugins: { 'import-x': importX },
    settings: {
      // Resolves the explicit '.ts' imports of the Node side and the extensionless ones Vite allows.
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.mts', '.js', '.mjs', '.vue', '.json'] })],
    },
    rules: { 'import-x/no-restricted-paths': ['error', { basePath: root, zones }] },
  },
  {
    files: ['shared/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', onlyPackages('zod', 'shared/ runs in Node and in the browser: it imports only zod.')] },
  },
  {
    files: ['renderer/**/*.{ts,vue}'],
    rules: {
      'no-restricted-imports': [
        'error',
        // Browser packages the renderer may use; add one here when the renderer needs it.
        onlyPackages(
          'vue|@vue/[^/]+|pinia|vue-router|chart\\.js',
          'renderer/ uses only the browser packages listed in eslint.config.js (no Node, no electron).',
        ),
      ],
    },
  },
  {
    files: ['electron/preload/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', onlyPackages('electron', 'the sandboxed preload imports only electron and shared/.')] },
  },
  {
    files: ['electron/engine/**/*.ts', 'electron/cli/**/*.ts', 'electron/server/**/*.ts', 'electron/service/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'electron', message: electronMessage }], patterns: [{ group: ['electron/*'], message: electronMessage }] },
      ],
    },
  },
)
