/**
 * Which review counts a table of the review simulation shows: points where a batch ended (a
 * column between two batch ends would repeat the earlier value under a later count). All of them
 * when there are at most `most`, else the first, the last and points spread evenly between.
 */
export function reviewColumns(reviews: readonly number[], most = 7): number[] {
  const all = [...new Set(reviews)].sort((a, b) => a - b)
  if (all.length <= most) return all
  const out = new Set<number>()
  for (let j = 0; j < most; j++) out.add(all[Math.round((j * (all.length - 1)) / (most - 1))]!)
  return [...out]
}
