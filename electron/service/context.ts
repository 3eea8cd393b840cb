/**
 * What every section of the service shares: the data folder, the job manager, the feature cache,
 * the open project and the helpers that guard it. `createServiceContext` owns the one piece of
 * mutable state (the open project); the sections (sections/*.ts) only read it through `need()`.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { basename, extname, isAbsolute, join, resolve } from 'node:path'
import { type JobKind, type JobRef, type MethodName, type OutputOf, type ParsedInputOf, type ProjectInfo } from '../../shared/contract.ts'
import { BadInputError, ConflictError, NotFoundError } from '../engine/errors.ts'
import { getMeta, openDb, type Db } from '../engine/store/db.ts'
import * as q from '../engine/store/read-model.ts'
import { Confinement } from '../engine/util/confine.ts'
import { FeatureCache } from './embedding.ts'
import { JobManager, type JobContext } from './job-manager.ts'
import { RecentProjects } from './recent.ts'

/** One handler per contract method, typed from the contract. */
export type Handlers = { [K in MethodName]: (input: ParsedInputOf<K>) => Promise<OutputOf<K>> }

export interface OpenProject {
  db: Db
  path: string
}

export interface ServiceOptions {
  /** Folder for app data: recent.json, projects created by name, the demo, thumbnail cache, downloaded models. */
  dataDir: string
  mode?: 'web' | 'electron'
  version?: string
  /** Minimum milliseconds between progress events of one job. */
  progressIntervalMs?: number
  /**
   * Dataset folders (web mode: `qc serve --root DIR`). When given, every path a method accepts
   * must lie, by real path, under the data folder or one of these (an empty list: the data folder
   * only); nothing outside is listed, read or written. Undefined: unconfined (the desktop app,
   * where the user picks folders in a native dialog).
   */
  roots?: string[]
  /**
   * Inference servers (origins, `http://host:port`) a remote backbone may use when the service is
   * confined (web mode: `qc serve --allow-backbone-server`); see remote-backbones.ts. Unconfined,
   * any server may be used.
   */
  backboneServers?: string[]
}

export interface ServiceContext {
  readonly dataDir: string
  readonly mode: 'web' | 'electron'
  readonly version: string
  readonly jobs: JobManager
  readonly features: FeatureCache
  readonly thumbDir: string
  readonly recent: RecentProjects
  /** The folders paths must lie under (the data folder and the roots), or null when unconfined. */
  readonly confinement: Confinement | null
  /** Servers a remote backbone may use when confined (ServiceOptions.backboneServers). */
  readonly backboneServers: readonly string[]
  /** The open project, or null. */
  current(): OpenProject | null
  /** The open project; throws the contract's no_project error when none is open. */
  need(): OpenProject
  /** Opens (or creates) a project file, closing the open one first. */
  openPath(path: string, create: boolean): Promise<ProjectInfo>
  /** Cancels the open project's jobs and closes it; returns its path, or null. */
  closeCurrent(): Promise<string | null>
  projectInfo(p: OpenProject): ProjectInfo
  /** Starts a job bound to a project: closing it cancels the job; an identical running request joins it. */
  startProjectJob<T>(p: OpenProject, kind: JobKind, rest: unknown, label: string, body: (ctx: JobContext) => Promise<T>): JobRef
  /**
   * An absolute path on the engine's machine, or a bad-input error naming `what`. When confined:
   * its real path (links resolved; for a path that does not exist yet, that of its nearest
   * existing folder), or OutsideRootsError when that lies outside the allowed folders.
   */
  requireAbsolute(p: string, what: string): string
  /** Backbone to use: the requested one (checked) or the one with the most stored features. */
  pickBackbone(db: Db, backboneId: number | undefined): number
  backboneInfo(db: Db, id: number): q.BackboneSummary
}

/** A path outside the folders a confined service may use; the service maps it to 'forbidden'. */
export class OutsideRootsError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'OutsideRootsError'
  }
}

/**
 * The confinement of a service: the data folder and the roots (each must be an existing folder),
 * or null when `roots` is undefined.
 */
function confinementOf(dataDir: string, roots: string[] | undefined): Confinement | null {
  if (roots === undefined) return null
  for (const r of roots) {
    if (!isAbsolute(r)) throw new Error(`dataset root must be an absolute path: ${r}`)
    if (!statSync(r, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`dataset root is not a folder: ${r}`)
  }
  return new Confinement([dataDir, ...roots])
}

/** Thrown by `need()`; the service maps it to the contract's 'no_project'. */
export class NoProjectError extends Error {
  constructor() {
    super('no project is open: create or open one first')
    this.name = 'NoProjectError'
  }
}

function appVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

export function projectName(path: string): string {
  return basename(path, extname(path))
}

/** Creates the shared context over a data folder. */
export function createServiceContext(opts: ServiceOptions): ServiceContext {
  const dataDir = resolve(opts.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const jobs = new JobManager(opts.progressIntervalMs ?? 200)
  const features = new FeatureCache()
  const recent = new RecentProjects(join(dataDir, 'recent.json'))
  const confinement = confinementOf(dataDir, opts.roots)
  let current: OpenProject | null = null

  function projectInfo(p: OpenProject): ProjectInfo {
    const c = q.projectCounts(p.db)
    return {
      path: p.path,
      name: projectName(p.path),
      createdAt: getMeta(p.db, 'created_at') ?? null,
      samples: c.samples,
      splits: { train: c.train, test: c.test },
      trusted: c.trusted,
      classes: q.classesWithCounts(p.db),
      backbones: c.backbones,
      runs: c.runs,
      demo: getMeta(p.db, 'demo') === 'true',
    }
  }

  async function closeCurrent(): Promise<string | null> {
    const open = current
    if (!open) return null
    // Only this project's jobs: a job that opens another project (the demo) must not wait on itself.
    await jobs.cancelAll(open.path)
    if (current !== open) return null
    current = null
    open.db.close()
    features.clear()
    jobs.emit({ type: 'project:closed', path: open.path })
    return open.path
  }

  const ctx: ServiceContext = {
    dataDir,
    mode: opts.mode ?? 'web',
    version: opts.version ?? appVersion(),
    jobs,
    features,
    thumbDir: join(dataDir, 'cache', 'thumbs'),
    recent,
    confinement,
    backboneServers: opts.backboneServers ?? [],
    current: () => current,
    need() {
      if (!current) throw new NoProjectError()
      return current
    },
    async openPath(path, create) {
      const abs = resolve(path)
      if (!create && !existsSync(abs)) throw new NotFoundError(`${abs}: no such project file`)
      if (create && existsSync(abs)) throw new ConflictError(`${abs}: a file with this name already exists; open it instead`)
      const db = openDb(abs, { create })
      await closeCurrent()
      current = { db, path: abs }
      recent.remember(abs, projectName(abs))
      const info = projectInfo(current)
      jobs.emit({ type: 'project:opened', project: info })
      return info
    },
    closeCurrent,
    projectInfo,
    startProjectJob(p, kind, rest, label, body) {
      // Jobs capture the project they started on; closing it cancels them (scope = its path).
      return jobs.start(kind, `${p.path}:${JSON.stringify(rest)}`, label, body, { scope: p.path })
    },
    requireAbsolute(p, what) {
      if (!isAbsolute(p)) throw new BadInputError(`${what} must be an absolute path on the engine's machine: ${p}`)
      if (!confinement) return resolve(p)
      // Decided before anything looks at the path itself, so a refusal says nothing about what is there.
      const real = confinement.resolve(p)
      if (real === undefined)
        throw new OutsideRootsError(
          `${what} ${p}: outside the folders this server may use (the data folder ${dataDir} and the folders given with qc serve --root)`,
        )
      return real
    },
    pickBackbone(db, backboneId) {
      if (backboneId !== undefined) return ctx.backboneInfo(db, backboneId).id
      const id = q.backboneWithMostFeatures(db)
      if (id === undefined) throw new ConflictError('no features in this project yet: extract features (or import embeddings) first')
      return id
    },
    backboneInfo(db, id) {
      const b = q.backboneSummaries(db).find((x) => x.id === id)
      if (!b) throw new NotFoundError(`no backbone with id ${id} in this project`)
      return b
    },
  }
  return ctx
}
