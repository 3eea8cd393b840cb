import { test } from 'node:test'
import assert from 'node:assert/strict'
import { confidentLearning } from '../../../electron/engine/train/cl.ts'

test('confident learning: thresholds, confident joint, calibrated joint and pruning on a worked example', () => {
  // 2 classes, 6 samples. Out-of-sample probability of class 1 per sample:
  const p1 = [0.1, 0.2, 0.9, 0.8, 0.7, 0.3]
  const y = Int32Array.from([0, 0, 0, 1, 1, 1])
  const probs = new Float32Array(12)
  p1.forEach((p, i) => {
    probs[i * 2] = 1 - p
    probs[i * 2 + 1] = p
  })
  const r = confidentLearning(probs, y, 2)
  // t0 = mean P0 over label-0 samples = (0.9 + 0.8 + 0.1) / 3 = 0.6; t1 = (0.8 + 0.7 + 0.3) / 3 = 0.6.
  assert.ok(Math.abs(r.thresholds[0]! - 0.6) < 1e-6 && Math.abs(r.thresholds[1]! - 0.6) < 1e-6)
  // Confident classes: s0 -> 0 (0.9), s1 -> 0 (0.8), s2 -> 1 (0.9), s3 -> 1, s4 -> 1 (0.7), s5 -> 0 (0.7).
  assert.deepEqual(r.confidentJoint, [
    [2, 1],
    [1, 2],
  ])
  // Rows already sum to the label counts (3 each): joint = C / 6; noise rate = 2/6.
  assert.ok(Math.abs(r.noiseRate - 1 / 3) < 1e-9)
  // Prune round(6 * 1/6) = 1 per class: the largest margin max_{j!=y} p_j - p_y.
  assert.deepEqual([...r.flagged], [0, 0, 1, 0, 0, 1])
  assert.deepEqual([...r.suggested], [0, 0, 1, 1, 1, 0])
  assert.deepEqual(r.prunePerClass, [1, 1])
})

test('confident learning rejects a probability matrix of the wrong size', () => {
  assert.throws(() => confidentLearning(new Float32Array(5), Int32Array.from([0, 1]), 3), /expected 2 x 3 probabilities, got 5/)
})
