// The one final-label rule (shared/final-label.ts), used by the engine and the renderer: its table
// of cases, step by step. test/engine/store/final-label.test.ts checks it against the SQL form,
// the read model and the exports.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { finalLabel, finalLabelRuleText, type FinalLabelInput, type FinalSource } from '../../shared/final-label.ts'

const base: FinalLabelInput = { status: 'unreviewed', decided: null, given: 0, refined: 1, flagged: true }

// [what, input, without auto-accept, with auto-accept]
const CASES: [string, Partial<FinalLabelInput>, [number | null, FinalSource], [number | null, FinalSource]][] = [
  ['unreviewed, flagged', {}, [0, 'given'], [1, 'refined']],
  ['unreviewed, not flagged', { refined: 0, flagged: false }, [0, 'given'], [0, 'given']],
  ['unreviewed, no prediction', { refined: null, flagged: null }, [0, 'given'], [0, 'given']],
  ['unreviewed, no given label, flagged', { given: null }, [null, 'given'], [1, 'refined']],
  ['unreviewed, flagged, no refined label', { refined: null }, [0, 'given'], [0, 'given']],
  ['accepted', { status: 'accepted', decided: 2 }, [2, 'review'], [2, 'review']],
  ['kept', { status: 'kept', decided: 0 }, [0, 'review'], [0, 'review']],
  ['relabelled', { status: 'relabelled', decided: 2 }, [2, 'review'], [2, 'review']],
  ['relabelled, no given label', { status: 'relabelled', decided: 2, given: null }, [2, 'review'], [2, 'review']],
  ['excluded', { status: 'excluded', decided: null }, [null, 'excluded'], [null, 'excluded']],
  ['excluded, a stray decided class', { status: 'excluded', decided: 2 }, [null, 'excluded'], [null, 'excluded']],
]

test('final label: the shared rule, case by case, with and without auto-accept', () => {
  for (const [what, over, plain, auto] of CASES) {
    const input = { ...base, ...over }
    assert.deepEqual(finalLabel(input), { final: plain[0], source: plain[1] }, `${what}`)
    assert.deepEqual(finalLabel(input, false), { final: plain[0], source: plain[1] }, `${what} (autoAccept false)`)
    assert.deepEqual(finalLabel(input, true), { final: auto[0], source: auto[1] }, `${what} (autoAccept)`)
  }
})

test('final label: the rule in words names auto-accept only when it applies', () => {
  assert.equal(finalLabelRuleText(), 'review decision; else given label')
  assert.equal(finalLabelRuleText(false), finalLabelRuleText())
  assert.match(finalLabelRuleText(true), /auto-accept/)
})
