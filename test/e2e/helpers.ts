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
/**
 * Where screenshots go: docs/screenshots/ (tracked, shown in the README) only when
 * QC_SCREENSHOTS=docs asks for it, so that a test run leaves the working tree as it was;
 * otherwise test-output/screenshots/ (ignored by git).
 */
export const SCREENSHOTS = process.env.QC_SCREENSHOTS === 'docs' ? join(ROOT, 'docs', 'screenshots') : join(ROOT, 'test-output', 'screenshots')

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
 * Saves a screenshot of the page to SCREENSHOTS/<name>.png, after closing the notices in the
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

/** A text element whose colour on its background is below the WCAG AA ratio for its size. */
export interface LowContrast {
  text: string
  color: string
  background: string
  ratio: number
}

/**
 * In-page script for lowContrast, kept as plain JavaScript source: the test's TypeScript loader
 * wraps named functions in a helper (`__name`) that does not exist in the page.
 */
const LOW_CONTRAST_JS = `(sel) => {
  const parse = (c) => (c.match(/[0-9.]+/g) || []).map(Number)
  const channel = (v) => { const x = v / 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4) }
  const lum = (rgb) => 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2])
  const bgOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor
      const v = parse(c)
      if (v.length >= 3 && (v.length < 4 || v[3] >= 1)) return c
    }
    return 'rgb(255, 255, 255)'
  }
  const out = []
  for (const root of document.querySelectorAll(sel)) {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim() !== '')
      if (own.length === 0 || el.getClientRects().length === 0) continue
      const st = getComputedStyle(el)
      if (st.visibility === 'hidden') continue
      const background = bgOf(el)
      const a = lum(parse(st.color))
      const b = lum(parse(background))
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)
      const size = parseFloat(st.fontSize)
      const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700)
      if (ratio < (large ? 3 : 4.5)) {
        const text = own.map((n) => n.textContent.trim()).join(' ').slice(0, 60)
        out.push({ text, color: st.color, background, ratio: Math.round(ratio * 100) / 100 })
      }
    }
  }
  return out
}`

/**
 * Text inside `root` (a CSS selector) whose contrast with the background it sits on is below
 * 4.5:1 (3:1 for large text), per WCAG 2.x relative luminance. The background is the first opaque
 * one up the tree (translucent layers and opacity are ignored, which is right for this app's solid
 * palette and enabled controls).
 */
export async function lowContrast(page: Page, root: string): Promise<LowContrast[]> {
  return (await page.evaluate(`(${LOW_CONTRAST_JS})(${JSON.stringify(root)})`)) as LowContrast[]
}

/** Calls a contract method of the running app over HTTP with its token; a non-2xx answer throws with the body. */
export async function apiCall<T>(app: Pick<App, 'origin' | 'token'>, method: string, input: unknown = {}): Promise<T> {
  const res = await fetch(`${app.origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-qc-token': app.token },
    body: JSON.stringify(input),
  })
  const body = (await res.json()) as T
  if (!res.ok) throw new Error(`${method}: ${JSON.stringify(body)}`)
  return body
}

/**
 * Runs a browser test's body; when it fails, leaves evidence for the CI log: a screenshot of what
 * the page showed (test-output/NAME-failure.png) and the page's console problems. Rethrows.
 */
export async function withEvidence(app: Pick<App, 'page' | 'problems'>, name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (e) {
    mkdirSync(join(ROOT, 'test-output'), { recursive: true })
    await app.page.screenshot({ path: join(ROOT, 'test-output', `${name}-failure.png`) }).catch(() => {})
    console.log(`# page problems: ${app.problems.join(' | ') || 'none'}`)
    throw e
  }
}
