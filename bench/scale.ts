/**
 * Scale benchmark (`npm run bench:scale`), issue 12 part 6: one million samples of 512-d own
 * embeddings through import -> refine (method auto) -> CSV export on one machine, with the use
 * cases the CLI runs (electron/engine/usecases). Printed per phase: wall time, rows/s, peak RSS
 * beside the feature matrix size, the SQLite feature store's write and read throughput, the DB
 * file size, and the accuracy of the refined labels against the true classes.
 *
 * Data: seeded synthetic clusters. K class centres c_k ~ N(0, s^2 I) in d dimensions (s = 0.12),
 * a sample of class k is c_k + N(0, I); its given label is drawn from the noise model's transition
 * matrix (electron/engine/validate/noise.ts). The .npy and labels CSV are written in chunks, so
 * generation never holds the matrix.
 *
 * Peak RSS per phase: on Linux the high-water mark is reset before each phase (`5` to
 * /proc/self/clear_refs) and read back from VmHWM; elsewhere the process's running peak
 * (process.resourceUsage().maxRSS) is printed, which only grows.
 *
 * Flags: --rows N (default 1000000), --dim D (512), --classes K (10), --noise 'symmetric 0.3',
 * --seed S (1), --keep DIR (keep the data, project and export there; default a temp folder that
 * is removed; a second run with the same flags reuses its .npy and CSV), --no-store-write (skip the
 * scratch-DB write measurement; the import still writes the store). Benchmarks are not tests: nothing fails on a time.
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { createReadStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { openDb, type Db } from '../electron/engine/store/db.ts'
import { insertEmbeddingsBackbone } from '../electron/engine/store/backbones.ts'
import { featureWriter, sampleFeatures } from '../electron/engine/store/features.ts'
import { importIntoProject } from '../electron/engine/usecases/import.ts'
import { refine } from '../electron/engine/usecases/refine.ts'
import { exportProject } from '../electron/engine/usecases/export.ts'
import { injectNoise, type NoiseType } from '../electron/engine/validate/noise.ts'
import { createRng } from '../electron/engine/util/rng.ts'

const argv = process.argv.slice(2)
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt
}
const rows = Number(opt('rows', '1000000'))
const dim = Number(opt('dim', '512'))
const K = Number(opt('classes', '10'))
const seed = Number(opt('seed', '1'))
const noiseText = opt('noise', 'symmetric 0.3')
const keep = opt('keep', '')
const noStoreWrite = argv.includes('--no-store-write')
const m = /^(symmetric|asymmetric)[\s:=]+([0-9.]+)$/.exec(noiseText.trim())
if (!m) throw new Error(`--noise '${noiseText}': expected e.g. 'symmetric 0.3' (symmetric or asymmetric)`)
const noise = { type: m[1] as NoiseType, rate: Number(m[2]) }
for (const [k, v] of Object.entries({ rows, dim, classes: K })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer, got ${v}`)
}

const MB = 1024 * 1024
const CENTRE_SCALE = 0.12

// --- memory: per-phase peak RSS ------------------------------------------------------------

let hwmResettable = false
try {
  writeFileSync('/proc/self/clear_refs', '5')
  hwmResettable = /VmHWM/.test(readFileSync('/proc/self/status', 'utf8'))
} catch {
  hwmResettable = false
}

function resetPeak(): void {
  if (hwmResettable) writeFileSync('/proc/self/clear_refs', '5')
}

/** Peak RSS in bytes since the last resetPeak (Linux), else since the process started. */
function peakRss(): number {
  if (hwmResettable) {
    const kb = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]
    if (kb) return Number(kb) * 1024
  }
  return process.resourceUsage().maxRSS * 1024
}

interface PhaseRow {
  phase: string
  seconds: number
  rowsPerSec: number
  peak: number
  note: string
}
const phases: PhaseRow[] = []

async function phase<T>(name: string, n: number, fn: () => Promise<T> | T, note: (r: T) => string = () => ''): Promise<T> {
  global.gc?.()
  resetPeak()
  const t = performance.now()
  const r = await fn()
  const seconds = (performance.now() - t) / 1000
  const row = { phase: name, seconds, rowsPerSec: n / seconds, peak: peakRss(), note: note(r) }
  phases.push(row)
  console.log(`  ${name}: ${seconds.toFixed(1)} s, ${fmtRate(row.rowsPerSec)} rows/s, peak RSS ${fmtMb(row.peak)}${row.note ? `; ${row.note}` : ''}`)
  return r
}

const fmtMb = (b: number) => `${(b / MB).toFixed(0)} MB`
const fmtRate = (r: number) => (r >= 1e4 ? `${(r / 1000).toFixed(0)}k` : r.toFixed(0))
const className = (k: number) => `c${k}`
const rowId = (i: number) => `r${String(i).padStart(7, '0')}`

// --- data ----------------------------------------------------------------------------------

function npyHeader(n: number, d: number): Buffer {
  let h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${d}), }`
  // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n
  const pad = 64 - ((10 + h.length + 1) % 64)
  h += ' '.repeat(pad % 64) + '\n'
  const buf = Buffer.alloc(10 + h.length)
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(buf, 0)
  buf.writeUInt16LE(h.length, 8)
  buf.write(h, 10, 'latin1')
  return buf
}

/** Writes `n` x `d` clustered embeddings and the noisy labels CSV; returns the true classes. */
function generate(dir: string): { npy: string; csv: string; truth: Int32Array; given: Int32Array } {
  const rng = createRng(seed)
  const centres = Array.from({ length: K }, () => Float32Array.from({ length: dim }, () => CENTRE_SCALE * rng.normal()))
  const truth = new Int32Array(rows)
  for (let i = 0; i < rows; i++) truth[i] = rng.int(K)
  const given = injectNoise(truth, K, { type: noise.type, rate: noise.rate, seed: seed + 1 })
  const npy = join(dir, 'embeddings.npy')
  const csv = join(dir, 'labels.csv')
  // --keep DIR run again with the same flags: the files are there (the draws above fix the labels).
  if (existsSync(csv) && existsSync(npy) && statSync(npy).size === npyHeader(rows, dim).length + rows * dim * 4) {
    console.log(`  (reusing ${npy} and ${csv})`)
    return { npy, csv, truth, given }
  }
  const fd = openSync(npy, 'w')
  const header = npyHeader(rows, dim)
  writeSync(fd, header)
  const chunkRows = 4096
  const chunk = new Float32Array(chunkRows * dim)
  const chunkBytes = new Uint8Array(chunk.buffer)
  for (let start = 0; start < rows; start += chunkRows) {
    const m = Math.min(chunkRows, rows - start)
    for (let r = 0; r < m; r++) {
      const c = centres[truth[start + r]!]!
      const off = r * dim
      for (let j = 0; j < dim; j++) chunk[off + j] = c[j]! + rng.normal()
    }
    writeSync(fd, chunkBytes, 0, m * dim * 4)
  }
  closeSync(fd)
  const cfd = openSync(csv, 'w')
  writeSync(cfd, 'id,label\n')
  for (let start = 0; start < rows; start += 50000) {
    const lines: string[] = []
    for (let i = start; i < Math.min(rows, start + 50000); i++) lines.push(`${rowId(i)},${className(given[i]!)}\n`)
    writeSync(cfd, lines.join(''))
  }
  closeSync(cfd)
  return { npy, csv, truth, given }
}

// --- feature store throughput --------------------------------------------------------------

/** Writes every row of the .npy into a fresh feature store (the import's statement, transactions of 10k rows). */
function storeWrite(npy: string, scratch: string): { bytes: number; dbBytes: number } {
  const db: Db = openDb(scratch)
  try {
    const backboneId = insertEmbeddingsBackbone(db, { name: 'scale', npyPath: npy, dim })
    const writer = featureWriter(db, backboneId)
    const fd = openSync(npy, 'r')
    const headerLen = npyHeader(rows, dim).length
    const batch = 10000
    const buf = new Float32Array(batch * dim)
    const bytes = new Uint8Array(buf.buffer)
    let written = 0
    const tx = db.transaction((m: number, start: number) => {
      for (let r = 0; r < m; r++) writer.insert(rowId(start + r), buf.subarray(r * dim, (r + 1) * dim))
    })
    for (let start = 0; start < rows; start += batch) {
      const m = Math.min(batch, rows - start)
      readSync(fd, bytes, 0, m * dim * 4, headerLen + start * dim * 4)
      tx(m, start)
      written += m * dim * 4
    }
    closeSync(fd)
    db.pragma('wal_checkpoint(TRUNCATE)')
    return { bytes: written, dbBytes: dbSize(scratch) }
  } finally {
    db.close()
  }
}

function dbSize(file: string): number {
  let s = 0
  for (const f of [file, `${file}-wal`]) {
    try {
      s += statSync(f).size
    } catch {
      /* no WAL */
    }
  }
  return s
}

/** Reads every sample's feature blob back (the query refinement loads the matrix with). */
function storeRead(db: Db, backboneId: number): { rows: number; bytes: number } {
  let n = 0
  let bytes = 0
  for (const r of sampleFeatures(db, backboneId)) {
    n++
    bytes += r.vec.byteLength
  }
  return { rows: n, bytes }
}

/** Accuracy of the exported refined and final labels against the true classes (streams the CSV). */
async function scoreExport(csv: string, truth: Int32Array): Promise<{ rows: number; refined: number; given: number; flagged: number }> {
  const rl = createInterface({ input: createReadStream(csv), crlfDelay: Infinity })
  let header: string[] | undefined
  let n = 0
  let refinedOk = 0
  let givenOk = 0
  let flagged = 0
  for await (const line of rl) {
    const cells = line.split(',')
    if (!header) {
      header = cells
      continue
    }
    const i = Number(cells[header.indexOf('path')]!.slice(1))
    const t = className(truth[i]!)
    n++
    if (cells[header.indexOf('refined_label')] === t) refinedOk++
    if (cells[header.indexOf('given_label')] === t) givenOk++
    if (cells[header.indexOf('flagged')] === '1' || cells[header.indexOf('flagged')] === 'true') flagged++
  }
  return { rows: n, refined: refinedOk / n, given: givenOk / n, flagged }
}

// --- main ------------------------------------------------------------------------------------

async function main() {
  const matrixBytes = rows * dim * 4
  console.log(`# bench:scale — ${new Date().toISOString()}`)
  console.log('Benchmarks are not tests: nothing here fails on a time. Timings on a shared machine move by 2x.')
  console.log(
    `${rows} rows x ${dim}-d float32 (feature matrix ${fmtMb(matrixBytes)}), K = ${K}, noise ${noise.type} ${noise.rate}, seed ${seed}; ` +
      `peak RSS ${hwmResettable ? 'per phase (VmHWM reset before each)' : 'of the process so far (maxRSS)'}`,
  )
  const dir = keep || mkdtempSync(join(tmpdir(), 'qc-scale-'))
  mkdirSync(dir, { recursive: true })
  const project = join(dir, 'project.qcdb')
  const scratch = join(dir, 'store-write.qcdb')
  const exported = join(dir, 'refined.csv')
  for (const f of [project, `${project}-wal`, `${project}-shm`, scratch, `${scratch}-wal`, `${scratch}-shm`, exported]) rmSync(f, { force: true })
  try {
    const data = await phase(
      'generate (.npy + labels CSV)',
      rows,
      () => generate(dir),
      (d) => `.npy ${fmtMb(statSync(d.npy).size)}`,
    )
    const written = noStoreWrite
      ? undefined
      : await phase(
          'feature store write (scratch DB)',
          rows,
          () => storeWrite(data.npy, scratch),
          (w) => {
            return `${(w.bytes / MB).toFixed(0)} MB of vectors, DB ${fmtMb(w.dbBytes)} (${(w.dbBytes / w.bytes).toFixed(2)}x)`
          },
        )
    const writeRow = written ? phases.at(-1) : undefined
    for (const f of [scratch, `${scratch}-wal`, `${scratch}-shm`]) rmSync(f, { force: true })

    const db = openDb(project)
    try {
      const imported = await phase(
        'import (embeddings use case)',
        rows,
        () => importIntoProject(db, { source: { kind: 'embeddings', npyFile: data.npy, labelsCsv: data.csv } }),
        (o) => `added ${o.added}, skipped ${o.skipped.length}, DB ${fmtMb(dbSize(project))}`,
      )
      const backboneId = imported.backboneId!
      const read = await phase(
        'feature store read (samples JOIN features)',
        rows,
        () => storeRead(db, backboneId),
        (r) => `${r.rows} rows`,
      )
      const readRow = phases.at(-1)!
      const readMBs = read.bytes / MB / readRow.seconds
      const refined = await phase(
        'refine (method auto)',
        rows,
        () => refine(db, { method: 'auto', backboneId }),
        (o) =>
          `chose ${o.method}, flagged ${o.flagged}; timings ${Object.entries(o.timings)
            .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
            .join(', ')}`,
      )
      await phase(
        'export CSV',
        rows,
        () => exportProject(db, { format: 'csv', out: exported, runId: refined.runId, force: true }),
        () => `${fmtMb(statSync(exported).size)}`,
      )
      const score = await scoreExport(exported, data.truth)
      db.pragma('wal_checkpoint(TRUNCATE)')
      const dbBytes = dbSize(project)

      console.log('\n| phase | wall | rows/s | peak RSS | note |\n|---|---|---|---|---|')
      for (const p of phases) console.log(`| ${p.phase} | ${p.seconds.toFixed(1)} s | ${fmtRate(p.rowsPerSec)} | ${fmtMb(p.peak)} | ${p.note} |`)
      console.log(
        `\nfeature matrix: ${fmtMb(matrixBytes)}; largest peak RSS: ${fmtMb(Math.max(...phases.map((p) => p.peak)))} (${(Math.max(...phases.map((p) => p.peak)) / matrixBytes).toFixed(2)}x the matrix)`,
      )
      console.log(
        `feature store: ${written && writeRow ? `write ${(written.bytes / MB / writeRow.seconds).toFixed(0)} MB/s (${fmtRate(rows / writeRow.seconds)} rows/s), ` : ''}read ${readMBs.toFixed(0)} MB/s (${fmtRate(read.rows / readRow.seconds)} rows/s); DB file ${fmtMb(dbBytes)} after a WAL checkpoint (${(dbBytes / matrixBytes).toFixed(2)}x the vectors)`,
      )
      console.log(
        `labels against the true classes (${score.rows} rows): given ${(100 * score.given).toFixed(2)}%, refined (${refined.method}) ${(100 * score.refined).toFixed(2)}%; flagged ${score.flagged}`,
      )
    } finally {
      db.close()
    }
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
