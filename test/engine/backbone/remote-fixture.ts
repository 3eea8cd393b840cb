/** Fixtures of the remote backbone tests: a small colour ONNX model and a project of generated images. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { buildModel, DataType, floatTensor } from '../../../electron/engine/onnx/proto.ts'
import { openDb, type Db } from '../../../electron/engine/store/db.ts'
import { importIntoProject } from '../../../electron/engine/usecases/import.ts'

/** Deterministic pseudo-random numbers in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let a = seed
  return Float32Array.from({ length: n }, () => {
    a = (a * 1103515245 + 12345) % 2147483648
    return (a / 2147483648) * 2 - 1
  })
}

/** A small colour image model: N x 3 x 16 x 16 -> Conv 3x3 (4 filters) -> N x 4 x 14 x 14 (pooled by the client). */
export function writeConvModel(file: string): void {
  const graph = {
    name: 'conv3',
    nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'] }],
    initializers: [floatTensor('w', values(4 * 3 * 3 * 3, 5), [4, 3, 3, 3]), floatTensor('b', Float32Array.of(0.1, -0.2, 0.3, 0))],
    inputs: [{ name: 'x', type: DataType.FLOAT, shape: ['N', 3, 16, 16] }],
    outputs: [{ name: 'y', type: DataType.FLOAT, shape: ['N', 4, 14, 14] }],
  }
  writeFileSync(file, buildModel({ graph }))
}

export interface Fixture {
  dir: string
  /** The ImageFolder root (classes ok and scratch). */
  root: string
  /** The project file (imported unless `project: false`). */
  project: string
  model: string
  db: Db
  files: string[]
}

/** A project of `n` generated PNGs in two classes, and the model file. */
export async function fixture(n: number, opts: { project?: boolean } = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'qc-remote-'))
  const root = join(dir, 'images')
  const files: string[] = []
  for (let i = 0; i < n; i++) {
    const cls = i % 2 ? 'ok' : 'scratch'
    mkdirSync(join(root, cls), { recursive: true })
    const w = 20 + (i % 4) * 5
    const h = 18 + (i % 3) * 6
    const px = Buffer.alloc(w * h * 3)
    for (let p = 0; p < w * h; p++) {
      px[p * 3] = ((p % w) * (i + 3) * 11) & 255
      px[p * 3 + 1] = (Math.floor(p / w) * (i + 5) * 7) & 255
      px[p * 3 + 2] = (p * (i + 1)) & 255
    }
    const file = join(root, cls, `img-${i}.png`)
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(file)
    files.push(file)
  }
  const model = join(dir, 'conv3.onnx')
  writeConvModel(model)
  const project = join(dir, 'p.qcdb')
  const db = openDb(project)
  if (opts.project !== false) await importIntoProject(db, { source: { kind: 'folder', root } })
  return { dir, root, project, model, db, files }
}
