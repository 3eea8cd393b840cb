/**
 * Screen-level keyboard shortcuts. The handler is attached while the component is mounted and
 * removed after, and it ignores keys typed into inputs, selects, text areas and editable content
 * (so typing a reviewer name never relabels a sample) and keys with Ctrl/Meta/Alt held (browser
 * and OS shortcuts keep working).
 */
import { onMounted, onBeforeUnmount } from 'vue'

/** True when the event comes from a place where the user types text. */
export function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null
  if (!t || typeof t.tagName !== 'string') return false
  const tag = t.tagName
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true
  if (tag === 'INPUT') {
    const type = (t as HTMLInputElement).type
    return !['checkbox', 'radio', 'button', 'submit', 'range'].includes(type)
  }
  return t.isContentEditable
}

/** Calls `handler` for shortcut keys; return true from it to prevent the browser default. */
export function useKeyboard(handler: (e: KeyboardEvent) => boolean | void): void {
  const listener = (e: KeyboardEvent): void => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isTyping(e)) return
    if (handler(e) === true) e.preventDefault()
  }
  onMounted(() => window.addEventListener('keydown', listener))
  onBeforeUnmount(() => window.removeEventListener('keydown', listener))
}
