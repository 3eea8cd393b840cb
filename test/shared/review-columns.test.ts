import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reviewColumns } from '../../shared/review-columns.ts'

test('review table columns sit where batches ended: all of them when few, else an even spread with both ends', () => {
  // Batches of 25 up to 100, from two curves (one stopped early): every batch end, once, in order.
  assert.deepEqual(reviewColumns([0, 25, 50, 75, 100, 0, 25, 50]), [0, 25, 50, 75, 100])
  // 0..2000 in batches of 250 (9 points), at most 5 columns: ends kept, the rest from the points.
  const many = Array.from({ length: 9 }, (_, i) => i * 250)
  const cols = reviewColumns(many, 5)
  assert.deepEqual(cols, [0, 500, 1000, 1500, 2000])
  for (const c of cols) assert.ok(many.includes(c), `${c} is a batch end`)
  // Uneven last batch (budget 110 in batches of 25): the short last batch's end is a column.
  assert.deepEqual(reviewColumns([0, 25, 50, 75, 100, 110]), [0, 25, 50, 75, 100, 110])
})
