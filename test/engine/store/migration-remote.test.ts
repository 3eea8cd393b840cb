import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { MIGRATIONS, openDb, SCHEMA_VERSION } from '../../../electron/engine/store/db.ts'
import { insertModelBackbone } from '../../../electron/engine/store/backbones.ts'

test('schema v4: a v3 project keeps its backbones, features and runs, and takes remote backbones', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'qc-mig-')), 'p.qcdb')
  const old = new Database(file)
  old.pragma('journal_mode = WAL')
  old.pragma('foreign_keys = ON')
  for (let v = 0; v < 3; v++) old.exec(MIGRATIONS[v]!)
  old.pragma('user_version = 3')
  old.prepare("INSERT INTO meta (key, value) VALUES ('created_at', 'x')").run()
  old
    .prepare("INSERT INTO backbones (id, name, kind, model_path, model_sha256, dim, created_at) VALUES (7, 'conv', 'file', '/m.onnx', 'ab', 4, 't')")
    .run()
  old.prepare("INSERT INTO features (hash, backbone_id, vec) VALUES ('h', 7, x'00000000')").run()
  old.prepare("INSERT INTO runs (method, backbone_id, params, status, started_at) VALUES ('pll', 7, '{}', 'done', 't')").run()
  old.close()

  const db = openDb(file)
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION)
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are back on after migrating')
  assert.deepEqual(db.pragma('foreign_key_check'), [])
  const row = db.prepare('SELECT id, name, kind, model_path, dim FROM backbones').get()
  assert.deepEqual({ ...(row as object) }, { id: 7, name: 'conv', kind: 'file', model_path: '/m.onnx', dim: 4 })
  assert.equal((db.prepare('SELECT count(*) AS n FROM features WHERE backbone_id = 7').get() as { n: number }).n, 1)
  const id = insertModelBackbone(db, {
    name: 'resnet',
    kind: 'remote',
    modelPath: 'http://127.0.0.1:8000/v2/models/resnet',
    sha256: 'cd',
    inputName: 'x',
    inputShape: ['batch', 3, 224, 224],
    outputName: 'y',
    dim: 512,
    preprocess: {},
  })
  assert.ok(id > 7)
  // The rebuilt table is still the parent of features: a feature of no backbone is refused.
  assert.throws(() => db.prepare("INSERT INTO features (hash, backbone_id, vec) VALUES ('h2', 99, x'00')").run(), /FOREIGN KEY/)
  assert.throws(() => db.prepare("INSERT INTO backbones (name, kind, dim, created_at) VALUES ('z', 'ftp', 1, 't')").run(), /CHECK/)
  db.close()
})
