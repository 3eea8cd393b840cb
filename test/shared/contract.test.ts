import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { contract, EngineEvent, jobResults, JobKind, methodNames, isMethodName } from '../../shared/contract.ts'

const sharedDir = new URL('../../shared/', import.meta.url).pathname

test('shared/ imports nothing but zod and its own files', () => {
  for (const f of readdirSync(sharedDir).filter((n) => n.endsWith('.ts'))) {
    const src = readFileSync(join(sharedDir, f), 'utf8')
    const specs = [...src.matchAll(/(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!)
    for (const s of specs) assert.ok(s === 'zod' || /^\.\/[a-z-]+\.ts$/.test(s), `${f} imports ${s}`)
  }
})

test('every method has an input and an output schema, and job methods return a JobRef of a known kind', () => {
  assert.ok(methodNames.length >= 40)
  for (const name of methodNames) {
    const def = contract[name] as { input: z.ZodType; output: z.ZodType; job?: string }
    assert.ok(def.input instanceof z.ZodType, name)
    assert.ok(def.output instanceof z.ZodType, name)
    if (def.job) {
      assert.ok(JobKind.options.includes(def.job as never), `${name}: job ${def.job}`)
      assert.ok(def.output.safeParse({ jobId: 'j', kind: def.job, joined: false }).success, `${name} returns a JobRef`)
    }
  }
  for (const k of JobKind.options) assert.ok(jobResults[k], `result schema for ${k}`)
  assert.equal(isMethodName('appInfo'), true)
  assert.equal(isMethodName('toString'), false, 'prototype keys are not methods')
  assert.equal(isMethodName('__proto__'), false)
})

test('every contract entry carries TSDoc', () => {
  const src = readFileSync(join(sharedDir, 'contract.ts'), 'utf8')
  const body = src.slice(src.indexOf('export const contract = {'), src.indexOf('} as const satisfies'))
  for (const name of methodNames) {
    const at = body.indexOf(`\n  ${name}: m(`)
    assert.ok(at > 0, `${name} found`)
    const before = body.slice(0, at).trimEnd()
    assert.ok(before.endsWith('*/'), `${name} has a doc comment`)
  }
})

test('inputs: defaults filled in, bad values refused with the field named', () => {
  const q = contract.querySamples.input.parse({})
  assert.equal(q.offset, 0)
  assert.equal(q.limit, 200)
  const bad = contract.querySamples.input.safeParse({ limit: 0, status: 'maybe' })
  assert.equal(bad.success, false)
  const paths = bad.error!.issues.map((i) => i.path.join('.'))
  assert.ok(paths.includes('limit') && paths.includes('status'))
  assert.equal(contract.review.input.safeParse({ sampleId: 1, action: 'relabel', reviewer: 'a' }).success, false)
  assert.equal(contract.review.input.safeParse({ sampleId: 1, action: 'relabel', classIdx: 2, reviewer: 'a' }).success, true)
  assert.equal(contract.review.input.safeParse({ sampleId: 1, action: 'accept', reviewer: '   ' }).success, false, 'blank reviewer')
  assert.equal(contract.createProject.input.safeParse({}).success, false)
  assert.equal(contract.appInfo.input.safeParse({ extra: 1 }).success, false)
})

test('events are a discriminated union in the past tense', () => {
  const job = { id: 'j', kind: 'import', label: 'x', status: 'completed', progress: null, startedAt: 't', finishedAt: 't', error: null }
  assert.ok(EngineEvent.safeParse({ type: 'job:completed', job, result: { added: 1 } }).success)
  assert.equal(EngineEvent.safeParse({ type: 'job:complete', job }).success, false)
  for (const o of EngineEvent.options) {
    const t = (o.shape.type as z.ZodLiteral<string>).value
    assert.match(t, /^[a-z]+:(started|progress|completed|failed|cancelled|opened|closed|changed|crashed)$/)
  }
})
