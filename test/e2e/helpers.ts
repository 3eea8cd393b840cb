/**
 * Shared set-up of the browser tests: build the web renderer when dist/web is missing or older
 * than its sources, start the real web-mode server on a random port with a temporary data
 * folder, and drive Debian's Chromium through playwright-core.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CHROMIUM = process.env.QC_CHROMIUM ?? '/usr/bin/chromium'
export const SCREENSHOTS = join(ROOT, 'docs', 'screenshots')

/** Why the browser tests cannot run here, or null when they can. */
export function skipReason(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser tests`
  return null
}

function newestMtime(path: string): number {
  const st = statSync(path)
  if (!st.isDirectory()) return st.mtimeMs
  let m = st.mtimeMs
  for (const name of readdirSync(path)) {
    if (name === 'node_modules') continue
    m = Math.max(m, newestMtime(join(path, name)))
  }
  return m
}

/** Builds dist/web with vite when it is missing or older than renderer/, shared/ or the config. */
export function ensureWebBuild(): void {
  const index = join(ROOT, 'dist', 'web', 'index.html')
  const sources = [join(ROOT, 'renderer'), join(ROOT, 'shared'), join(ROOT, 'vite.web.config.ts')].filter(existsSync)
  const newest = Math.max(...sources.map(newestMtime))
  if (existsSync(index) && statSync(index).mtimeMs >= newest) return
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'vite.web.config.ts', '--logLevel', 'warn'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  )
  if (r.status !== 0) throw new Error(`vite build --config vite.web.config.ts failed (exit ${r.status})`)
}

export interface App {
  url: string
  origin: string
  token: string
  dataDir: string
  browser: Browser
  context: BrowserContext
  page: Page
  /** Console errors and failed requests seen by the page. */
  problems: string[]
  close(): Promise<void>
}

/** Starts the server and a headless Chromium page on it. */
export async function startApp(opts: { width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {}): Promise<App> {
  ensureWebBuild()
  const { startServer } = await import('../../electron/server/server.ts')
  const { chromium } = await import('playwright-core')
  const dataDir = mkdtempSync(join(tmpdir(), 'qc-e2e-'))
  const server = await startServer({ dataDir, port: 0, warn: () => {} })
  let browser: Browser | null = null
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    const context = await browser.newContext({
      viewport: { width: opts.width ?? 1440, height: opts.height ?? 900 },
      colorScheme: opts.colorScheme ?? 'light',
      acceptDownloads: true,
    })
    const page = await context.newPage()
    const problems: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`)
    })
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
    const b = browser
    return {
      url: server.url,
      origin: server.origin,
      token: server.token,
      dataDir,
      browser: b,
      context,
      page,
      problems,
      async close() {
        await b.close().catch(() => {})
        await server.close().catch(() => {})
        rmSync(dataDir, { recursive: true, force: true })
      },
    }
  } catch (e) {
    await browser?.close().catch(() => {})
    await server.close().catch(() => {})
    rmSync(dataDir, { recursive: true, force: true })
    throw e
  }
}

/**
 * Saves a screenshot of the page to docs/screenshots/<name>.png, after closing the notices in the
 * corner (with their own Dismiss buttons) so they do not cover the screen being documented.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dismiss = page.getByRole('button', { name: 'Dismiss' })
  while ((await dismiss.count()) > 0) await dismiss.first().click()
  const file = join(SCREENSHOTS, `${name}.png`)
  mkdirSync(dirname(file), { recursive: true })
  await page.screenshot({ path: file })
  return file
}
