// One lint config for the whole repo. Besides the usual rules it holds the layering that
// STYLE.md asks for: shared/ imports nothing from the other layers or from Node/Electron,
// renderer/ imports only shared/, and engine modules never import electron.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'

const nodeOnly = [
  { group: ['node:*'], message: 'shared/ and renderer/ run in the browser: no Node built-ins.' },
  { group: ['electron', 'electron/*'], message: 'only electron/main and electron/preload may import electron.' },
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
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...nodeOnly,
            { group: ['**/electron/**', '**/renderer/**'], message: 'shared/ is the contract: it imports nothing from the other layers.' },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.{ts,vue}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [...nodeOnly, { group: ['**/electron/**'], message: 'renderer/ talks to the engine only through shared/.' }],
        },
      ],
    },
  },
  {
    files: ['electron/engine/**/*.ts', 'electron/cli/**/*.ts', 'electron/server/**/*.ts', 'electron/service/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['electron', 'electron/*'], message: 'engine, CLI, server and service run in plain Node: never import electron.' }],
        },
      ],
    },
  },
)
