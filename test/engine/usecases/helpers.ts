// Small real projects for the use-case tests: Gaussian clusters written as a user's own embeddings
// (.npy + labels CSV), with some given labels flipped and a test split that keeps its true labels.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRng } from '../../../electron/engine/util/rng.ts'
import { writeNpy } from '../../../electron/engine/util/npy.ts'

export const NAMES = ['ok', 'scratch', 'dent']

export function tempDir(prefix = 'qc-usecase-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export interface EmbeddingsFiles {
  npy: string
  csv: string
  /** True class per row. */
  truth: number[]
  /** Given class per row (flipped with probability `noise` in the training split). */
  given: number[]
}

/**
 * Writes `n` rows in `d` dimensions, 3 classes; the last `test` rows are the test split with their
 * true labels. Row ids are `s0`, `s1`, ...
 */
export function writeEmbeddings(dir: string, opts: { n?: number; d?: number; noise?: number; test?: number; seed?: number } = {}): EmbeddingsFiles {
  const { n = 150, d = 6, noise = 0.2, test = 0, seed = 1 } = opts
  const rng = createRng(seed)
  const k = NAMES.length
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => 3 * rng.normal()))
  const x = new Float32Array(n * d)
  const truth: number[] = []
  const given: number[] = []
  const lines = ['id,label,split']
  for (let i = 0; i < n; i++) {
    const c = i % k
    for (let j = 0; j < d; j++) x[i * d + j] = centres[c]![j]! + 0.7 * rng.normal()
    const isTest = i >= n - test
    const g = !isTest && rng.next() < noise ? (c + 1 + rng.int(k - 1)) % k : c
    truth.push(c)
    given.push(g)
    lines.push(`s${i},${NAMES[g]},${isTest ? 'test' : 'train'}`)
  }
  const npy = join(dir, 'x.npy')
  const csv = join(dir, 'y.csv')
  writeNpy(npy, x, [n, d])
  writeFileSync(csv, lines.join('\n') + '\n')
  return { npy, csv, truth, given }
}
