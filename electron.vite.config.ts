/**
 * electron-vite: one block each for main, preload and renderer (electron-vite templates).
 * - main: the main process (out/main/index.js) and the engine's utilityProcess entry
 *   (out/main/engine.js); dependencies stay external, native addons above all (better-sqlite3,
 *   onnxruntime-node, sharp, @tensorflow/*), and load from node_modules (asar-unpacked).
 * - preload: sandboxed, so it must be one self-contained CommonJS file (zod bundled in).
 * - renderer: the same Vue app and plugins as web mode (vite.web.config.ts), rooted at renderer/.
 */
import { defineConfig } from 'electron-vite'
import vue from '@vitejs/plugin-vue'
import { fileURLToPath } from 'node:url'

const r = (p: string): string => fileURLToPath(new URL(p, import.meta.url))
const native = ['better-sqlite3', 'onnxruntime-node', 'onnxruntime-common', 'sharp', /^@img\//, /^@tensorflow\//, 'electron']

export default defineConfig({
  main: {
    build: {
      outDir: r('./out/main'),
      externalizeDeps: true,
      rollupOptions: {
        input: { index: r('./electron/main/main.ts'), engine: r('./electron/service/utility-entry.ts') },
        external: native,
      },
    },
  },
  preload: {
    build: {
      outDir: r('./out/preload'),
      externalizeDeps: false,
      rollupOptions: {
        input: { index: r('./electron/preload/index.ts') },
        external: ['electron'],
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: r('./renderer'),
    base: './',
    plugins: [vue()],
    build: {
      outDir: r('./out/renderer'),
      rollupOptions: { input: r('./renderer/index.html') },
      chunkSizeWarningLimit: 800,
    },
  },
})
