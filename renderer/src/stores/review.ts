/**
 * Review state: the filtered list of samples (flagged first, most or least certain first), the cursor,
 * the selection, the detail of the sample under the cursor, and the decisions. Every decision is
 * applied on screen at once and sent at once (optimistic); when the call fails the row goes back
 * to what it was and the error is shown. The feedback loop (issue 8): decisions saved since the
 * suggestions were last updated are counted, the setting "update every N decisions" is kept in
 * localStorage, and `followRun` switches the list to an updated run keeping the sample in view.
 */
import { defineStore } from 'pinia'
import { ref, computed, watch, shallowRef } from 'vue'
import { api } from '../api.ts'
import { useToastStore } from './toasts.ts'
import type { SampleRow, SampleDetail, ReviewProgress, ReviewStatus, RefreshResult } from '../../../shared/contract.ts'
import { finalLabel } from '../../../shared/final-label.ts'
import { FIT, zoomBy, type ZoomView } from '../zoom.ts'

export type Decision = 'accept' | 'keep' | 'relabel' | 'exclude'

export interface ReviewFilters {
  runId?: number
  classIdx?: number
  classBy: 'given' | 'refined' | 'final'
  /** true: flagged only; false: not flagged; undefined: all. */
  flagged?: boolean
  status?: ReviewStatus | 'reviewed'
  givenIdx?: number
  refinedIdx?: number
  /**
   * Queue order: 'certain' (default) most certain flags first, they fix the most given labels per
   * review; 'uncertain' least certain first, the answers the model learns most from ("Learn from my
   * decisions"; engine/validate/review-sim.ts measures both). Kept in localStorage.
   */
  order: QueueOrder
}

export type QueueOrder = 'certain' | 'uncertain'

const REVIEWER_KEY = 'qc.reviewer'
const FEEDBACK_KEY = 'qc.feedbackEvery'
const ORDER_KEY = 'qc.queueOrder'
/** The default of "update the suggestions every N decisions" (0 = only on the button). */
export const FEEDBACK_EVERY_DEFAULT = 25
const PAGE = 1000

function statusOf(action: Decision): ReviewStatus {
  return action === 'accept' ? 'accepted' : action === 'keep' ? 'kept' : action === 'relabel' ? 'relabelled' : 'excluded'
}

/** The class a decision records (as the engine's review.ts does; accept: the row's suggestion). */
function decidedOf(row: SampleRow, action: Decision, classIdx?: number): number | null {
  if (action === 'accept') return row.refined ?? row.given
  if (action === 'keep') return row.given
  if (action === 'relabel') return classIdx ?? null
  return null
}

/**
 * The label a decision leaves on a sample (null = excluded from exports): the one final-label rule
 * (shared/final-label.ts, the engine's too) on the row with the decision applied, without
 * auto-accept as the grid shows it.
 */
export function finalOf(row: SampleRow, action: Decision, classIdx?: number): number | null {
  const input = { status: statusOf(action), decided: decidedOf(row, action, classIdx), given: row.given, refined: row.refined, flagged: row.flagged }
  return finalLabel(input).final
}

export const useReviewStore = defineStore('review', () => {
  const toasts = useToastStore()
  const filters = ref<ReviewFilters>({ classBy: 'given', flagged: true, order: readOrder() })
  // shallowRef: thousands of rows; we replace rows and trigger instead of deep reactivity.
  const items = shallowRef<SampleRow[]>([])
  const total = ref(0)
  const runId = ref<number | null>(null)
  const loading = ref(false)
  const cursor = ref(0)
  const selection = ref<Set<number>>(new Set())
  let anchor = -1
  const detail = ref<SampleDetail | null>(null)
  const progress = ref<ReviewProgress | null>(null)
  const reviewer = ref<string>(readReviewer())
  const pending = ref(0)
  /** The detail image's zoom and pan: kept from sample to sample (keys + / - / 0). */
  const zoom = ref<ZoomView>({ ...FIT })
  /** Focus mode: one large image, the grid hidden (key F or Space). */
  const focusMode = ref(false)
  /** Update the suggestions after this many decisions (0: only on the button); kept in localStorage. */
  const feedbackEvery = ref<number>(readFeedbackEvery())
  /** Decisions saved since the suggestions were last updated (or since the page opened). */
  const sinceRefresh = ref(0)
  /** What the latest update of the suggestions did (shown until the next one). */
  const lastRefresh = ref<RefreshResult | null>(null)
  /**
   * A sample kept in the list after an update took it out of the filtered queue (it was in view):
   * shown, and listed, until the cursor leaves it.
   */
  const pinnedId = ref<number | null>(null)
  /**
   * Decisions (and undos) made on this screen, and when the engine confirmed each (null while on
   * its way): a list queried before one was saved shows that sample as it was, so a reload
   * re-applies those (no decided sample comes back as "not reviewed", where the queue would offer
   * it again). One saved before the query went out is in the answer already.
   */
  const localDecisions = new Map<number, { savedAt: number | null; row: Pick<SampleRow, 'status' | 'final'> }>()
  const patchDecided = (rows: SampleRow[], queriedAt: number): SampleRow[] =>
    rows.map((r) => {
      const d = localDecisions.get(r.id)
      const stale = d && (d.savedAt === null || d.savedAt >= queriedAt)
      return stale && (d.row.status !== r.status || d.row.final !== r.final) ? { ...r, ...d.row } : r
    })
  /** Set by an update in least-certain order: the next move goes to the queue's first unreviewed sample. */
  const fromTop = ref(false)
  let generation = 0
  // Decisions go to the engine one after another, in the order they were made, so the review log
  // (and what Z undoes) matches what the reviewer did even when keys come faster than replies.
  let queue: Promise<unknown> = Promise.resolve()
  function enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = queue.then(fn, fn)
    queue = next.catch(() => undefined)
    return next
  }

  const current = computed<SampleRow | undefined>(() => items.value[cursor.value])
  const indexById = computed(() => {
    const m = new Map<number, number>()
    items.value.forEach((r, i) => m.set(r.id, i))
    return m
  })

  function readReviewer(): string {
    try {
      return localStorage.getItem(REVIEWER_KEY) ?? ''
    } catch {
      return ''
    }
  }
  function readOrder(): QueueOrder {
    try {
      return localStorage.getItem(ORDER_KEY) === 'uncertain' ? 'uncertain' : 'certain'
    } catch {
      return 'certain'
    }
  }
  function readFeedbackEvery(): number {
    try {
      const v = localStorage.getItem(FEEDBACK_KEY)
      const n = v === null ? NaN : Number(v)
      return Number.isInteger(n) && n >= 0 ? n : FEEDBACK_EVERY_DEFAULT
    } catch {
      return FEEDBACK_EVERY_DEFAULT
    }
  }
  function setFeedbackEvery(n: number): void {
    feedbackEvery.value = Number.isFinite(n) ? Math.max(0, Math.min(10000, Math.round(n))) : FEEDBACK_EVERY_DEFAULT
    try {
      localStorage.setItem(FEEDBACK_KEY, String(feedbackEvery.value))
    } catch {
      // kept for this page only
    }
  }

  function setReviewer(name: string): void {
    reviewer.value = name.trim()
    try {
      localStorage.setItem(REVIEWER_KEY, reviewer.value)
    } catch {
      // kept for this page only
    }
  }

  /**
   * Loads the list for the current filters: the first page at once, the rest in the background.
   * `resume`: the cursor goes to the first sample nobody has reviewed (looked for in each page as it
   * arrives), where a reviewer coming back to the screen wants to go on; otherwise it stays where
   * it was (a reload after someone else's decision). `keep`: the list changed under the reviewer
   * (an update of the suggestions): the cursor stays on that sample, and when the new list does not
   * hold it, it is kept in view (pinned at its place) until the cursor leaves it; the selection
   * keeps the samples still listed.
   */
  async function load(resume = false, keepCurrent = false): Promise<void> {
    const gen = ++generation
    loading.value = true
    const f = filters.value
    const query = {
      runId: f.runId,
      classIdx: f.classIdx,
      classBy: f.classIdx !== undefined ? f.classBy : undefined,
      flagged: f.flagged,
      status: f.status,
      givenIdx: f.givenIdx,
      refinedIdx: f.refinedIdx,
      sort: f.order === 'uncertain' ? ('uncertain' as const) : ('rank' as const),
    }
    try {
      const since = Date.now()
      const answer = await api.querySamples({ ...query, offset: 0, limit: PAGE })
      if (gen !== generation) return
      const first = { ...answer, items: patchDecided(answer.items, since) }
      // The sample in view as the new list arrives (not when the load started: a decision made
      // meanwhile has moved the cursor on, and the reviewer must not be taken back to it).
      const here = (): { id: number; at: number } | undefined =>
        keepCurrent && current.value ? { id: current.value.id, at: cursor.value } : undefined
      let keep = here()
      const keptSelection = keep ? selection.value : null
      let pinned: SampleRow | null = null
      if (keep && !first.items.some((r) => r.id === keep!.id)) {
        // Not on the first page: the row as the new run sees it, shown where the reviewer was.
        const one = await api.querySamples({ runId: first.runId ?? undefined, ids: [keep.id], offset: 0, limit: 1 })
        if (gen !== generation) return
        pinned = one.items[0] ?? null
        const now = here()
        if (now && now.id !== keep.id) {
          // The cursor moved on while that row was fetched: keep the sample in view now.
          keep = now
          pinned = first.items.some((r) => r.id === now.id) ? null : (current.value ?? null)
        }
      }
      pinnedId.value = null
      if (pinned) {
        const at = Math.min(keep!.at, first.items.length)
        items.value = [...first.items.slice(0, at), pinned, ...first.items.slice(at)]
        pinnedId.value = pinned.id
      } else items.value = first.items
      total.value = first.total
      runId.value = first.runId
      let seeking = resume
      const seek = (from: number): void => {
        const i = items.value.findIndex((r, j) => j >= from && r.status === 'unreviewed')
        if (i >= 0) {
          cursor.value = i
          seeking = false
        }
      }
      const kept = keep ? items.value.findIndex((r) => r.id === keep.id) : -1
      cursor.value = kept >= 0 ? kept : resume ? 0 : Math.min(cursor.value, Math.max(0, items.value.length - 1))
      if (seeking) seek(0)
      selection.value = keptSelection ? new Set([...keptSelection].filter((id) => items.value.some((r) => r.id === id))) : new Set()
      anchor = -1
      void loadDetail()
      void loadProgress()
      let offset = first.items.length
      while (offset < first.total) {
        const pageSince = Date.now()
        const answer = await api.querySamples({ ...query, offset, limit: PAGE })
        if (gen !== generation) return
        const page = { ...answer, items: patchDecided(answer.items, pageSince) }
        if (page.items.length === 0) break
        // The pinned sample is listed after all (a later page): its own place replaces the pin.
        const pin = pinnedId.value
        if (pin !== null && page.items.some((r) => r.id === pin)) {
          const onPin = current.value?.id === pin
          pinnedId.value = null
          items.value = items.value.filter((r) => r.id !== pin)
          items.value = items.value.concat(page.items)
          if (onPin) cursor.value = items.value.findIndex((r) => r.id === pin)
        } else items.value = items.value.concat(page.items)
        if (seeking) seek(offset)
        offset += page.items.length
      }
    } catch (e) {
      if (gen === generation) toasts.error(e, 'Loading samples')
    } finally {
      if (gen === generation) loading.value = false
    }
  }

  async function loadProgress(): Promise<void> {
    try {
      progress.value = await api.reviewProgress({ runId: runId.value ?? undefined })
    } catch {
      // the counter is informative; the grid still works without it
    }
  }

  let detailTimer: ReturnType<typeof setTimeout> | null = null
  /** Loads the detail of the sample under the cursor (debounced: holding J must not flood the engine). */
  function loadDetail(delay = 0): Promise<void> {
    if (detailTimer) clearTimeout(detailTimer)
    return new Promise((resolve) => {
      detailTimer = setTimeout(async () => {
        const row = current.value
        if (!row) {
          detail.value = null
          return resolve()
        }
        try {
          const d = await api.getSample({ sampleId: row.id, runId: runId.value ?? undefined, neighbours: 8 })
          if (current.value?.id === d.id) detail.value = d
        } catch (e) {
          toasts.error(e, `Sample ${row.id}`)
        }
        resolve()
      }, delay)
    })
  }
  watch(cursor, () => void loadDetail(60))
  // The pinned sample goes once the reviewer moves on (the list is then the filtered queue again).
  watch(cursor, (i) => {
    const pin = pinnedId.value
    if (pin === null) return
    const at = items.value.findIndex((r) => r.id === pin)
    if (at === i) return
    pinnedId.value = null
    if (at < 0) return
    items.value = items.value.filter((r) => r.id !== pin)
    if (at < i) cursor.value = i - 1
  })

  function replaceRow(row: SampleRow): void {
    const i = indexById.value.get(row.id)
    if (i === undefined) return
    // A new array, not an in-place write: the grid's windowing reads the array through a prop,
    // and a shallow ref only notices a new value.
    const next = items.value.slice()
    next[i] = row
    items.value = next
    if (detail.value?.id === row.id) detail.value = { ...detail.value, ...row }
  }

  /** Applies a decision to one sample: on screen now, in the review log at once. */
  async function decide(action: Decision, classIdx?: number, row: SampleRow | undefined = current.value): Promise<boolean> {
    if (!row) return false
    if (!reviewer.value) {
      toasts.push('error', 'Enter your name first: every decision is recorded with who made it.')
      return false
    }
    if (action === 'relabel' && classIdx === undefined) return false
    const before = row
    const shown = { status: statusOf(action), final: finalOf(row, action, classIdx) }
    replaceRow({ ...row, ...shown })
    const mine = { savedAt: null as number | null, row: shown }
    localDecisions.set(row.id, mine)
    pending.value++
    try {
      const who = reviewer.value
      const run = runId.value ?? undefined
      const r = await enqueue(() => api.review({ sampleId: row.id, action, classIdx, runId: run, reviewer: who }))
      mine.savedAt = Date.now()
      replaceRow(r.sample)
      sinceRefresh.value++
      void loadProgress()
      if (detail.value?.id === row.id) void loadDetail()
      return true
    } catch (e) {
      replaceRow(before)
      // Never saved: the engine's rows are right about it.
      if (localDecisions.get(before.id) === mine) localDecisions.delete(before.id)
      toasts.error(e, `Decision on ${before.path} not saved, undone on screen`)
      return false
    } finally {
      pending.value--
    }
  }

  /** Undoes this reviewer's latest decision and moves the cursor to that sample. */
  async function undo(): Promise<void> {
    if (!reviewer.value) return
    try {
      const who = reviewer.value
      const r = await enqueue(() => api.undo({ reviewer: who }))
      if (!r.sample) {
        toasts.info('Nothing to undo')
        return
      }
      replaceRow(r.sample)
      localDecisions.set(r.sample.id, { savedAt: Date.now(), row: { status: r.sample.status, final: r.sample.final } })
      const i = indexById.value.get(r.sample.id)
      if (i !== undefined) cursor.value = i
      else {
        // Not in the list: an update that trained on the decision took it off the flagged queue.
        // It comes into view where the reviewer is, pinned as a sample an update took away is,
        // until the cursor leaves it (the next update gives its suggestion back to the model).
        const at = Math.min(cursor.value + 1, items.value.length)
        items.value = [...items.value.slice(0, at), r.sample, ...items.value.slice(at)]
        pinnedId.value = r.sample.id
        cursor.value = at
      }
      void loadProgress()
      void loadDetail()
      toasts.info(`Undone your last decision on ${r.sample.path}`)
    } catch (e) {
      toasts.error(e, 'Undo')
    }
  }

  /** Accepts the suggestion for every selected sample in one call. */
  async function bulkAccept(): Promise<void> {
    const ids = [...selection.value]
    if (ids.length === 0 || !reviewer.value) return
    const before = ids.map((id) => items.value[indexById.value.get(id) ?? -1]).filter((r): r is SampleRow => !!r)
    for (const r of before) replaceRow({ ...r, status: 'accepted', final: finalOf(r, 'accept') })
    pending.value++
    try {
      const who = reviewer.value
      const run = runId.value ?? undefined
      const r = await enqueue(() => api.bulkAccept({ sampleIds: ids, runId: run, reviewer: who }))
      toasts.ok(`Accepted ${r.accepted} suggestion${r.accepted === 1 ? '' : 's'}${r.skipped ? `, ${r.skipped} skipped` : ''}`)
      selection.value = new Set()
      sinceRefresh.value += r.accepted
      void loadProgress()
    } catch (e) {
      for (const r of before) replaceRow(r)
      toasts.error(e, 'Bulk accept not saved, undone on screen')
    } finally {
      pending.value--
    }
  }

  function move(delta: number): void {
    const n = items.value.length
    if (n === 0) return
    cursor.value = Math.max(0, Math.min(n - 1, cursor.value + delta))
  }

  /** Moves to the next unreviewed sample after the cursor (wrapping around; from the top after a re-ranking update). */
  function nextUnreviewed(): boolean {
    const n = items.value.length
    const from = fromTop.value ? -1 : cursor.value
    fromTop.value = false
    for (let k = 1; k <= n; k++) {
      const i = (from + k) % n
      if (items.value[i]?.status === 'unreviewed') {
        cursor.value = i
        return true
      }
    }
    return false
  }

  /** Click handling: plain click moves the cursor, ctrl/meta toggles, shift selects a range. */
  function click(i: number, e: { shiftKey: boolean; ctrlKey: boolean; metaKey: boolean }): void {
    const row = items.value[i]
    if (!row) return
    const sel = new Set(selection.value)
    if (e.shiftKey) {
      const from = anchor >= 0 ? anchor : cursor.value
      const [a, b] = from < i ? [from, i] : [i, from]
      for (let k = a; k <= b; k++) {
        const r = items.value[k]
        if (r) sel.add(r.id)
      }
    } else if (e.ctrlKey || e.metaKey) {
      if (sel.has(row.id)) sel.delete(row.id)
      else sel.add(row.id)
      anchor = i
    } else {
      sel.clear()
      anchor = i
    }
    selection.value = sel
    cursor.value = i
  }

  /** Zooms the detail image by `factor` about its centre; 0 (or no factor) fits it again. */
  function zoomTo(factor?: number): void {
    zoom.value = factor ? zoomBy(zoom.value, factor) : { ...FIT }
  }

  /**
   * Switches the list to an updated run (the suggestions refreshed from the decisions): the sample
   * in view stays selected (kept in view when it left the filtered queue), every decision stays (the
   * rows come from the engine with their review state). Decisions still on their way are written
   * first, so the new list shows them.
   */
  async function followRun(newRunId: number): Promise<void> {
    if (filters.value.runId !== undefined) filters.value = { ...filters.value, runId: newRunId }
    await enqueue(() => Promise.resolve())
    await load(false, true)
    // Least certain first: the update re-ranked the queue, and its new head (what the model is now
    // least sure of) may sit above the sample in view; that one stays, and moving on goes to the head.
    fromTop.value = filters.value.order === 'uncertain'
  }

  /**
   * After a decision: the next sample nobody has decided (the queue's first after a re-ranking
   * update), never a decided one: an update can list samples decided while it trained, and a key
   * pressed on one would replace its decision unseen. Walking decided samples on purpose (Status:
   * a decided status) goes to the next row. Nothing left undecided: the cursor stays.
   */
  function advance(): void {
    const status = filters.value.status
    if (status !== undefined && status !== 'unreviewed') return move(1)
    // The decision is on screen already (decide() applies it at once), so the search does not stop
    // on the sample just decided.
    nextUnreviewed()
  }

  function setFilters(f: Partial<ReviewFilters>, replace = false): void {
    // The queue order is a preference, not a filter: a replace (a cell from Insights) keeps it.
    filters.value = replace ? { classBy: 'given', order: filters.value.order, ...f } : { ...filters.value, ...f }
    if (f.order) {
      try {
        localStorage.setItem(ORDER_KEY, f.order)
      } catch {
        // kept for this page only
      }
    }
    cursor.value = 0
    void load(true)
  }

  return {
    filters,
    items,
    total,
    runId,
    loading,
    cursor,
    selection,
    detail,
    progress,
    reviewer,
    pending,
    zoom,
    focusMode,
    feedbackEvery,
    sinceRefresh,
    lastRefresh,
    pinnedId,
    current,
    setReviewer,
    setFeedbackEvery,
    followRun,
    load,
    loadProgress,
    loadDetail,
    decide,
    undo,
    bulkAccept,
    move,
    nextUnreviewed,
    advance,
    click,
    setFilters,
    zoomTo,
  }
})
