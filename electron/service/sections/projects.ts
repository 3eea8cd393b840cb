/**
 * Service section: the app and its projects (create, open, close, recent, the demo).
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { RecentProject } from '../../../shared/contract.ts'
import type { Handlers, ServiceContext } from '../context.ts'

function safeFileName(name: string): string {
  // Control characters are exactly what must go from a file name.
  const s = name
    .normalize('NFC')
    // eslint-disable-next-line no-control-regex
    .replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_')
    .replace(/^\.+/, '_')
    .trim()
  return s.slice(0, 120) || 'project'
}

export function projectsSection(ctx: ServiceContext) {
  const { dataDir, jobs, version, mode, recent, requireAbsolute, openPath, closeCurrent, projectInfo, confinement } = ctx
  return {
    // --- app ---
    async appInfo() {
      return { name: 'Seed QC', version, mode, dataDir, platform: process.platform }
    },

    // --- projects ---
    async listRecentProjects() {
      // Confined (web mode): only projects under the allowed folders, so nothing outside is probed.
      const projects: RecentProject[] = recent
        .list()
        .filter((r) => !confinement || confinement.resolve(r.path) !== undefined)
        .map((r) => ({ ...r, exists: existsSync(r.path) }))
      return { projects }
    },
    async createProject(input) {
      const path = input.path
        ? requireAbsolute(input.path, 'project path')
        : join(dataDir, 'projects', `${safeFileName(input.name ?? 'project')}.qcdb`)
      return openPath(path, true)
    },
    async openProject(input) {
      return openPath(requireAbsolute(input.path, 'project path'), false)
    },
    async closeProject() {
      return { closed: (await closeCurrent()) !== null }
    },
    async currentProject() {
      const p = ctx.current()
      return { project: p ? projectInfo(p) : null }
    },
    async createDemoProject(input) {
      return jobs.start('demo', JSON.stringify(input), 'Create the demo project', async ({ progress, signal }) => {
        // The same pipeline as `qc demo`: generate, import (audited fifth as trusted labels),
        // extract, refine with auto, write refined.csv; then open the project. The bar names the
        // first stage at once: loading the engine's modules takes a few seconds on a small machine.
        progress({ phase: 'demo', done: 0, total: 0 })
        const { runDemo } = await import('../../engine/usecases/demo.ts')
        const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')
        const outDir = join(dataDir, 'demo', `demo-${stamp}`)
        mkdirSync(outDir, { recursive: true })
        const summary = await runDemo(
          outDir,
          {
            ...(input.perClass !== undefined ? { perClass: input.perClass } : {}),
            ...(input.seed !== undefined ? { seed: input.seed } : {}),
            ...(input.noiseRate !== undefined ? { noiseRate: input.noiseRate } : {}),
          },
          { progress, signal },
        )
        return openPath(summary.project, false)
      })
    },
  } satisfies Partial<Handlers>
}
