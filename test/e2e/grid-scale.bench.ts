/**
 * Not a test: measures the review grid with N samples in Chromium (an embeddings project with
 * clustered random vectors and 30% wrong labels, no images): time to list every row, tiles in the
 * DOM before and after scrolling, frame times while scrolling 400 px per frame, and 200 cursor
 * moves by keyboard. Usage: node --import tsx test/e2e/grid-scale.bench.ts [N=5000]
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startApp } from './helpers.ts'
import { writeNpy } from '../../electron/engine/util/npy.ts'

const N = Number(process.argv[2] ?? 5000)
const D = 16
const K = 6
const app = await startApp()
const { page } = app

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- ad-hoc JSON in a measurement script
async function call(method: string, input: unknown = {}): Promise<any> {
  const r = await fetch(`${app.origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-qc-token': app.token },
    body: JSON.stringify(input),
  })
  const body = await r.json()
  if (!r.ok) throw new Error(`${method}: ${JSON.stringify(body)}`)
  return body
}
async function waitJob(ref: { jobId: string }): Promise<void> {
  for (;;) {
    const { jobs } = await call('listJobs')
    const j = jobs.find((j: { id: string }) => j.id === ref.jobId)
    if (j && j.status !== 'running') {
      if (j.status !== 'completed') throw new Error(j.error)
      return
    }
    await new Promise((r) => setTimeout(r, 300))
  }
}

try {
  let seed = 7
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
  const x = new Float32Array(N * D)
  const lines = ['id,label']
  for (let i = 0; i < N; i++) {
    const c = i % K
    for (let d = 0; d < D; d++) x[i * D + d] = (d % K === c ? 3 : 0) + (rnd() - 0.5) * 2
    lines.push(`${i},class${rnd() < 0.3 ? (c + 1) % K : c}`)
  }
  writeNpy(join(app.dataDir, 'x.npy'), x, [N, D])
  writeFileSync(join(app.dataDir, 'y.csv'), lines.join('\n') + '\n')
  await call('createProject', { path: join(app.dataDir, 'big.qcdb') })
  await waitJob(await call('importEmbeddings', { npyFile: join(app.dataDir, 'x.npy'), labelsCsv: join(app.dataDir, 'y.csv') }))
  await waitJob(await call('startRun', { method: 'teacher', lambda: 0.001 }))

  await page.goto(app.url)
  await page.getByTestId('project-card').waitFor()
  await page.getByRole('link', { name: 'Review' }).click()
  await page.getByLabel('Flagged', { exact: true }).selectOption('all')
  const t1 = Date.now()
  await page.getByText(`${N} samples`, { exact: true }).waitFor({ timeout: 60_000 })
  await page.getByText(/\(loading \d+…\)/).waitFor({ state: 'detached', timeout: 60_000 })
  const tLoad = Date.now() - t1
  const tiles = await page.locator('[data-sample-id]').count()
  const frames = (await page.evaluate(`(async () => {
    const g = document.querySelector('.vgrid')
    const out = []
    let last = performance.now()
    for (let i = 0; i < 120; i++) {
      g.scrollTop += 400
      await new Promise((r) => requestAnimationFrame(r))
      const t = performance.now()
      out.push(t - last)
      last = t
    }
    return out
  })()`)) as number[]
  frames.sort((a, b) => a - b)
  const tilesAfter = await page.locator('[data-sample-id]').count()
  await page.locator('#reviewer').fill('bench')
  await page.keyboard.press('Enter')
  await page.locator('body').click({ position: { x: 5, y: 300 } })
  const k0 = Date.now()
  for (let i = 0; i < 200; i++) await page.keyboard.press('l')
  const tKeys = Date.now() - k0
  const q = (p: number): string => (frames[Math.min(frames.length - 1, Math.floor(p * frames.length))] ?? NaN).toFixed(1)
  console.log(
    JSON.stringify({
      samples: N,
      allRowsListedMs: tLoad,
      tilesInDom: tiles,
      tilesAfterScroll: tilesAfter,
      frameMsMedian: q(0.5),
      frameMsP95: q(0.95),
      frameMsMax: q(1),
      cursorMoves200Ms: tKeys,
    }),
  )
} catch (e) {
  console.error(e)
  process.exitCode = 1
} finally {
  if (app.problems.length) console.log(app.problems.slice(0, 5).join('\n'))
  await app.close()
}
