/**
 * Crash recovery (issue 11): a run or validation sweep left 'running' by a process that died is
 * listed as 'interrupted', can be discarded (runs) or resumed (sweeps); a live one stays 'running'.
 * The owner (pid, host) is recorded by every connection (schema v2); files from before migrate
 * forward and their 'running' rows, which no process of this version can own, read as interrupted.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createService, type Service } from '../../electron/service/service.ts'
import { MIGRATIONS, openDb, SCHEMA_VERSION } from '../../electron/engine/store/db.ts'
import { writeNpy } from '../../electron/engine/util/npy.ts'
import { mulberry32 } from '../../electron/engine/util/rng.ts'
import type { ContractError, RunSummary, ValidationInfo } from '../../shared/contract.ts'

const QC = new URL('../../bin/qc.mjs', import.meta.url).pathname
const dirs: string[] = []
const services: Service[] = []

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'qc-crash-'))
  dirs.push(d)
  return d
}

function service(dir: string): Service {
  const s = createService({ dataDir: join(dir, 'data'), progressIntervalMs: 0 })
  services.push(s)
  return s
}

after(async () => {
  for (const s of services) await s.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A project file as the app wrote it before schema v2: no owner columns, one run and one sweep left 'running'. */
function v1Project(file: string): void {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec(MIGRATIONS[0]!)
  db.pragma('user_version = 1')
  db.prepare("INSERT INTO meta (key, value) VALUES ('created_at', '2024-01-01T00:00:00.000Z')").run()
  const ins = db.prepare('INSERT INTO runs (method, params, seed, status, started_at, finished_at) VALUES (?, ?, 0, ?, ?, ?)')
  ins.run('teacher', '{}', 'done', '2024-01-01T00:00:01.000Z', '2024-01-01T00:00:02.000Z')
  ins.run('auto', '{}', 'running', '2024-01-01T00:00:03.000Z', null)
  db.prepare("INSERT INTO validations (params, status, started_at) VALUES ('{}', 'running', '2024-01-01T00:00:04.000Z')").run()
  db.close()
}

/** A process that stays alive until killed (its pid stands for a live owner). */
function liveProcess(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((r) => child.once('exit', () => r()))
}

test('an older file migrates forward; its run and sweep left running read as interrupted; the run can be discarded', async () => {
  const dir = tmp()
  const file = join(dir, 'old.qcdb')
  v1Project(file)
  const svc = service(dir)
  await svc.call('openProject', { path: file })
  const { runs } = (await svc.call('listRuns', {})) as { runs: RunSummary[] }
  assert.deepEqual(
    runs.map((r) => [r.id, r.status]),
    [
      [2, 'interrupted'],
      [1, 'done'],
    ],
  )
  const { validations } = (await svc.call('listValidations', {})) as { validations: ValidationInfo[] }
  assert.equal(validations[0]!.status, 'interrupted')
  // Discard: failed with error 'interrupted', listed as such; anything not interrupted is refused.
  const discarded = (await svc.call('discardRun', { runId: 2 })) as RunSummary
  assert.equal(discarded.status, 'failed')
  assert.equal(discarded.error, 'interrupted')
  assert.ok(discarded.finishedAt)
  await assert.rejects(
    svc.call('discardRun', { runId: 2 }),
    (e: ContractError) => e.code === 'conflict' && /is failed, not interrupted/.test(e.message),
  )
  await assert.rejects(svc.call('discardRun', { runId: 1 }), (e: ContractError) => e.code === 'conflict')
  await assert.rejects(svc.call('discardRun', { runId: 99 }), (e: ContractError) => e.code === 'not_found')
  await svc.call('closeProject', {})
  // Migrated in place: this version's schema, the owner columns present.
  const db = new Database(file, { readonly: true })
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION)
  const cols = (t: string) => (db.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((c) => c.name)
  for (const t of ['runs', 'validations']) assert.ok(cols(t).includes('owner_pid') && cols(t).includes('owner_host'), t)
  db.close()
})

test('a running row whose owner is alive stays running; once the owner is gone it reads as interrupted', async () => {
  const dir = tmp()
  const file = join(dir, 'p.qcdb')
  const db = openDb(file)
  // Started by this process (the connection records it): running.
  db.prepare("INSERT INTO runs (method, params, status, started_at) VALUES ('teacher', '{}', 'running', '2024-01-01T00:00:00Z')").run()
  const mine = db.prepare('SELECT owner_pid AS pid, owner_host AS host FROM runs WHERE id = 1').get() as { pid: number; host: string }
  assert.equal(mine.pid, process.pid)
  // Started by another live process on this host, and by one on another host.
  const child = liveProcess()
  const ins = db.prepare("INSERT INTO runs (method, params, status, started_at, owner_pid, owner_host) VALUES ('sd', '{}', 'done', 'x', ?, ?)")
  const other = Number(ins.run(child.pid, mine.host).lastInsertRowid)
  const remote = Number(ins.run(child.pid, 'some-other-host').lastInsertRowid)
  // Set to running afterwards, as another process would (this connection's trigger would claim an insert).
  db.prepare("UPDATE runs SET status = 'running' WHERE id IN (?, ?)").run(other, remote)
  db.prepare('UPDATE runs SET owner_pid = ?, owner_host = ? WHERE id = ?').run(child.pid, mine.host, other)
  db.prepare('UPDATE runs SET owner_pid = ?, owner_host = ? WHERE id = ?').run(child.pid, 'some-other-host', remote)
  const vid = Number(db.prepare("INSERT INTO validations (params, status, started_at) VALUES ('{}', 'done', 'x')").run().lastInsertRowid)
  db.prepare("UPDATE validations SET status = 'running' WHERE id = ?").run(vid)
  db.prepare('UPDATE validations SET owner_pid = ?, owner_host = ? WHERE id = ?').run(child.pid, mine.host, vid)
  db.close()

  const svc = service(dir)
  await svc.call('openProject', { path: file })
  const status = async () =>
    Object.fromEntries(((await svc.call('listRuns', {})) as { runs: RunSummary[] }).runs.map((r) => [r.id, r.status])) as Record<number, string>
  const now = await status()
  assert.equal(now[1], 'running', 'owned by this process: running')
  assert.equal(now[other], 'running', 'owner alive on this host')
  assert.equal(now[remote], 'running', 'owner on another host: cannot be checked, taken as alive')
  assert.equal(((await svc.call('listValidations', {})) as { validations: ValidationInfo[] }).validations[0]!.status, 'running')
  // A sweep still running in another live process is not resumed under it.
  await assert.rejects(
    svc.call('resumeValidation', { validationId: vid }),
    (e: ContractError) => e.code === 'conflict' && /another process/.test(e.message),
  )
  await assert.rejects(svc.call('discardRun', { runId: other }), (e: ContractError) => e.code === 'conflict' && /is running/.test(e.message))

  child.kill('SIGKILL')
  await exited(child)
  const later = await status()
  assert.equal(later[other], 'interrupted')
  assert.equal(later[remote], 'running')
  assert.equal(((await svc.call('listValidations', {})) as { validations: ValidationInfo[] }).validations[0]!.status, 'interrupted')
  assert.equal(((await svc.call('discardRun', { runId: other })) as RunSummary).status, 'failed')
})

/** Gaussian clusters with flipped labels: N x D embeddings and their labels CSV. */
function embeddings(dir: string, n: number, d: number): { npy: string; csv: string } {
  const rand = mulberry32(5)
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand())
  const k = 4
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => 2 * gauss()))
  const x = new Float32Array(n * d)
  const rows: string[] = []
  for (let i = 0; i < n; i++) {
    const c = i % k
    for (let j = 0; j < d; j++) x[i * d + j] = centres[c]![j]! + gauss()
    rows.push(`s${i},c${rand() < 0.3 ? (c + 1) % k : c}`)
  }
  const npy = join(dir, 'x.npy')
  const csv = join(dir, 'y.csv')
  writeNpy(npy, x, [n, d])
  writeFileSync(csv, `id,label\n${rows.join('\n')}\n`)
  return { npy, csv }
}

test('kill -9 during qc refine: the app lists that run as interrupted, not running, and can discard it', async () => {
  const dir = tmp()
  const project = join(dir, 'p.qcdb')
  const { npy, csv } = embeddings(dir, 3000, 48)
  const imp = spawnSync(process.execPath, [QC, 'import', '--project', project, '--features', npy, '--labels', csv, '--quiet'], { encoding: 'utf8' })
  assert.equal(imp.status, 0, imp.stderr)

  const child = spawn(process.execPath, [QC, 'refine', '--project', project, '--json'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString()
      // Killed while refining: once the refinement itself reports progress. The use case first
      // names its 'prepare' stage, before the run row is written (a kill then leaves no run to
      // recover); every later event comes from inside refineProject, after the row exists.
      if (/"event":"progress","phase":"(?!prepare")/.test(stderr) && child.signalCode === null && !child.killed) {
        child.kill('SIGKILL')
        resolve()
      }
    })
    child.on('exit', () => reject(new Error(`qc refine ended before it could be killed: ${stderr}`)))
  })
  await exited(child)
  assert.equal(child.signalCode, 'SIGKILL')

  const svc = service(dir)
  await svc.call('openProject', { path: project })
  const { runs } = (await svc.call('listRuns', {})) as { runs: RunSummary[] }
  assert.equal(runs.length, 1)
  assert.equal(runs[0]!.status, 'interrupted', 'not running: its process is gone')
  assert.equal(runs[0]!.finishedAt, null)
  // qc info says so too.
  const info = spawnSync(process.execPath, [QC, 'info', '--project', project, '--json'], { encoding: 'utf8' })
  assert.equal(info.status, 0, info.stderr)
  assert.equal((JSON.parse(info.stdout) as { runs: { status: string }[] }).runs[0]!.status, 'interrupted')
  // Discarded: it stays listed, as failed with the reason.
  const d = (await svc.call('discardRun', { runId: runs[0]!.id })) as RunSummary
  assert.deepEqual([d.status, d.error], ['failed', 'interrupted'])
})
