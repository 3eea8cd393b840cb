/**
 * electron-vite: one block each for main, preload and renderer (electron-vite templates).
 * - main: the main process (out/main/index.js) and the engine's utilityProcess entry
 *   (out/main/engine.js); dependencies stay external, native addons above all (better-sqlite3,
 *   onnxruntime-node, sharp, @tensorflow/*), and load from node_modules (asar-unpacked).
 * - preload: sandboxed, so it must be one self-contained CommonJS file (zod bundled in).
 * - renderer: the same Vue app, root and plugins as web mode (taken from vite.web.config.ts), built
 *   to out/renderer.
 */
import { defineConfig } from 'electron-vite'
import { fileURLToPath } from 'node:url'
import type { UserConfig } from 'vite'
// The web build's config is the one source of the renderer's root and plugins.
import webConfig from './vite.web.config.ts'

const r = (p: string): string => fileURLToPath(new URL(p, import.meta.url))
const web = webConfig as UserConfig
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
    root: web.root ?? r('./renderer'),
    base: './',
    plugins: web.plugins ?? [],
    build: {
      outDir: r('./out/renderer'),
      rollupOptions: { input: r('./renderer/index.html') },
      chunkSizeWarningLimit: 800,
    },
  },
})
