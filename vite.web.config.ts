/**
 * Web-mode build of the renderer: the same Vue app the Electron window loads, built to dist/web
 * and served by electron/server/server.ts on loopback. `base: './'` keeps asset URLs relative so
 * the same bundle works under the server and from a file.
 */
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('./renderer', import.meta.url))

export default defineConfig({
  root,
  base: './',
  plugins: [vue()],
  build: {
    outDir: fileURLToPath(new URL('./dist/web', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
  },
  server: { port: 5173, strictPort: false },
})
