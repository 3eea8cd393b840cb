// The layering in eslint.config.js, probed: for each folder, one import per forbidden direction
// must fail lint with a layering rule, and the allowed imports must lint clean (so the test fails
// both when a zone is missing and when a zone is too wide). Probes are linted with lintText and a
// file path inside the folder, so nothing is written to the tree.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const LAYER_RULES = new Set(['import-x/no-restricted-paths', 'no-restricted-imports'])
const eslint = new ESLint({ cwd: root })

/** Some real .ts file under `dir` (the zones resolve imports, so the target must exist). */
function someFile(dir: string): string {
  const abs = join(root, dir)
  const entries = readdirSync(abs, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))
  const file = entries.find((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
  if (file) return join(dir, file.name)
  for (const e of entries) if (e.isDirectory()) return someFile(join(dir, e.name))
  throw new Error(`no .ts file under ${dir}`)
}

/** The import specifier for `target` as written in `probe`: a repo path has a '/' ('bench/' for a folder), a package has none. */
function spec(probe: string, target: string): string {
  if (!target.includes('/') || target.startsWith('node:') || target.startsWith('@')) return target
  if (!/\.[a-z]+$/.test(target)) target = someFile(target)
  const r = relative(dirname(join(root, probe)), join(root, target))
  return r.startsWith('.') ? r : `./${r}`
}

function source(probe: string, target: string): string {
  const line = `import '${spec(probe, target)}'\n`
  return probe.endsWith('.vue') ? `<script setup lang="ts">\n${line}</script>\n` : line
}

async function lint(probe: string, target: string) {
  const [result] = await eslint.lintText(source(probe, target), { filePath: join(root, probe) })
  assert.ok(result, `no lint result for ${probe}`)
  return result
}

async function expectForbidden(probe: string, target: string) {
  const result = await lint(probe, target)
  const hits = result.messages.filter((m) => m.severity === 2 && m.ruleId !== null && LAYER_RULES.has(m.ruleId))
  assert.ok(hits.length > 0, `${probe} importing ${spec(probe, target)} should fail lint, got: ${JSON.stringify(result.messages)}`)
}

async function expectAllowed(probe: string, target: string) {
  const result = await lint(probe, target)
  assert.deepEqual(
    result.messages.map((m) => `${m.ruleId}: ${m.message}`),
    [],
    `${probe} importing ${spec(probe, target)} should lint clean`,
  )
}

/** One layer: a probe file path and what an import from it may and may not reach. */
interface Layer {
  probe: string
  forbidden: string[]
  allowed: string[]
}

const probeName = `__layer_probe_${process.pid}`
const nodeBuiltins = ['node:fs', 'fs', 'path']

const layers: Record<string, Layer> = {
  shared: {
    probe: `shared/${probeName}.ts`,
    forbidden: [...nodeBuiltins, 'electron', 'electron/engine', 'electron/service', 'electron/main', 'renderer/src', 'test/shared', 'vue'],
    allowed: ['zod', 'shared/contract.ts'],
  },
  renderer: {
    probe: `renderer/src/stores/${probeName}.ts`,
    forbidden: [...nodeBuiltins, 'electron', 'electron/engine', 'electron/service', 'electron/server', 'electron/main', 'test/e2e', 'better-sqlite3'],
    allowed: ['shared/contract.ts', 'renderer/src/api.ts', 'vue', 'pinia', 'vue-router', 'chart.js'],
  },
  'renderer (.vue)': {
    probe: `renderer/src/components/${probeName}.vue`,
    forbidden: ['node:fs', 'electron/engine', 'test/e2e'],
    allowed: ['shared/contract.ts', 'vue'],
  },
  engine: {
    probe: `electron/engine/${probeName}.ts`,
    forbidden: [
      'electron',
      'electron/service',
      'electron/server',
      'electron/main',
      'electron/preload',
      'electron/cli',
      'renderer/src',
      'test/engine',
      'bench/',
    ],
    allowed: ['electron/engine/util/rng.ts', 'shared/contract.ts', 'node:fs', 'zod'],
  },
  'engine/train': {
    probe: `electron/engine/train/${probeName}.ts`,
    forbidden: ['electron/engine/validate'],
    allowed: ['electron/engine/util/rng.ts', 'electron/engine/train/types.ts'],
  },
  'engine/validate': {
    probe: `electron/engine/validate/${probeName}.ts`,
    forbidden: ['electron/service'],
    allowed: ['electron/engine/train/types.ts', 'electron/engine/util/rng.ts'],
  },
  service: {
    probe: `electron/service/${probeName}.ts`,
    forbidden: ['electron', 'electron/server', 'electron/main', 'electron/preload', 'electron/cli', 'renderer/src', 'test/service'],
    allowed: ['electron/engine', 'shared/contract.ts', 'node:fs'],
  },
  server: {
    probe: `electron/server/${probeName}.ts`,
    forbidden: ['electron', 'electron/main', 'electron/preload', 'electron/cli', 'renderer/src', 'test/server'],
    allowed: ['electron/service', 'electron/engine', 'shared/csp.ts', 'node:http'],
  },
  cli: {
    probe: `electron/cli/${probeName}.ts`,
    forbidden: ['electron', 'electron/main', 'electron/preload', 'renderer/src', 'test/cli'],
    allowed: ['electron/engine', 'electron/service', 'electron/server', 'shared/contract.ts', 'node:fs'],
  },
  main: {
    probe: `electron/main/${probeName}.ts`,
    forbidden: ['electron/preload', 'electron/cli', 'electron/server', 'renderer/src', 'test/main'],
    allowed: ['electron', 'shared/ipc.ts', 'electron/service/worker-protocol.ts', 'node:path'],
  },
  preload: {
    probe: `electron/preload/${probeName}.ts`,
    forbidden: [...nodeBuiltins, 'electron/engine', 'electron/service', 'electron/main', 'renderer/src', 'zod'],
    allowed: ['electron', 'shared/ipc.ts', 'electron/preload/bridge.ts'],
  },
}

for (const [name, layer] of Object.entries(layers)) {
  test(`layers: ${name} may not import ${layer.forbidden.join(', ')}`, async () => {
    for (const target of layer.forbidden) await expectForbidden(layer.probe, target)
  })
  test(`layers: ${name} may import ${layer.allowed.join(', ')}`, async () => {
    for (const target of layer.allowed) await expectAllowed(layer.probe, target)
  })
}

test('layers: the probes are linted by the repo config, not ignored', async () => {
  for (const layer of Object.values(layers)) assert.equal(await eslint.isPathIgnored(join(root, layer.probe)), false, layer.probe)
})
