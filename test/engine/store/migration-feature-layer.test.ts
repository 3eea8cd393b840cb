import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { MIGRATIONS, openDb, SCHEMA_VERSION } from '../../../electron/engine/store/db.ts'
import { backboneById, insertModelBackbone } from '../../../electron/engine/store/backbones.ts'

test('schema v5: a v4 project keeps its backbones (feature layer unknown, NULL) and records the feature layer of new ones', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'qc-mig5-')), 'p.qcdb')
  const old = new Database(file)
  old.pragma('journal_mode = WAL')
  for (let v = 0; v < 4; v++) old.exec(MIGRATIONS[v]!)
  old.pragma('user_version = 4')
  old.prepare("INSERT INTO meta (key, value) VALUES ('created_at', 'x')").run()
  old
    .prepare(
      "INSERT INTO backbones (id, name, kind, model_path, model_sha256, output_name, dim, created_at) VALUES (3, 'conv', 'file', '/m.onnx', 'ab', 'y', 4, 't')",
    )
    .run()
  old.close()

  const db = openDb(file)
  assert.ok(SCHEMA_VERSION >= 5)
  const before = backboneById(db, 3)!
  assert.equal(before.feature_layer, null)
  assert.equal(before.feature_pool, null)
  const id = insertModelBackbone(db, {
    name: 'resnet18',
    kind: 'file',
    modelPath: '/r.onnx',
    sha256: 'cd',
    inputName: 'x',
    inputShape: ['N', 3, 224, 224],
    outputName: 'pool',
    dim: 512,
    preprocess: {},
    featureLayer: 'penultimate',
    featurePool: 'gap',
  })
  const row = backboneById(db, id)!
  assert.equal(row.feature_layer, 'penultimate')
  assert.equal(row.feature_pool, 'gap')
  assert.equal(row.output_name, 'pool')
  db.close()
})
