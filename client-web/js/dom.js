// Small DOM helpers shared by the game page and the dashboard.

/**
 * The element matching `selector`; throws if the page lacks it (a bug, not a runtime state).
 * @param {string} selector
 * @returns {HTMLElement}
 */
export function $(selector) {
  const found = document.querySelector(selector);
  if (!found) throw new Error(`missing element ${selector}`);
  return /** @type {HTMLElement} */ (found);
}

/**
 * Creates an element with properties and children (text is never parsed as HTML).
 * @param {string} tag
 * @param {Record<string, string>} [props] `style` is set as an attribute, the rest as properties
 * @param {...(Node | string)} children
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'style') node.setAttribute('style', value);
    else /** @type {any} */ (node)[key] = value;
  }
  node.append(...children);
  return node;
}

/**
 * A table cell for {@link syncRows}: its text, or nodes made by `make`, made again only when
 * `stamp` (what they show) changes.
 * @typedef {string | { text: string, className?: string } | { stamp: string, make: () => (Node | string)[], className?: string }} Cell
 */

/**
 * Brings `tbody`'s rows to `items`, one row per key, in place: a row whose key stays keeps its
 * elements, a cell's text is written only when it changed, and a cell of nodes is made again
 * only when its stamp changed. So a refresh every few seconds leaves a selection, a hover, a
 * click under way and the keyboard focus alone; where it does remake the focused control, the
 * focus goes to the new one with the same `data-focus` key.
 * @template T
 * @param {HTMLElement} tbody @param {T[]} items
 * @param {(item: T) => string} keyOf @param {(item: T) => Cell[]} cellsOf
 */
export function syncRows(tbody, items, keyOf, cellsOf) {
  const focused = document.activeElement;
  const focusKey = focused instanceof HTMLElement && tbody.contains(focused) ? focused.dataset.focus : undefined;
  /** @type {Map<string, HTMLTableRowElement>} */
  const rows = new Map();
  for (const row of Array.from(tbody.children)) {
    if (row instanceof HTMLTableRowElement && row.dataset.key !== undefined) rows.set(row.dataset.key, row);
  }
  const keep = new Set();
  items.forEach((item, index) => {
    const key = keyOf(item);
    keep.add(key);
    let row = rows.get(key);
    if (!row) {
      row = /** @type {HTMLTableRowElement} */ (document.createElement('tr'));
      row.dataset.key = key;
    }
    const cells = cellsOf(item);
    cells.forEach((cell, i) => {
      const td = /** @type {HTMLTableCellElement} */ (row.children[i] ?? row.appendChild(document.createElement('td')));
      const spec = typeof cell === 'string' ? { text: cell } : cell;
      const className = spec.className ?? '';
      if (td.className !== className) td.className = className;
      if ('text' in spec) {
        if (td.dataset.stamp !== undefined || td.textContent !== spec.text) {
          delete td.dataset.stamp;
          td.textContent = spec.text;
        }
      } else if (td.dataset.stamp !== spec.stamp) {
        td.dataset.stamp = spec.stamp;
        td.replaceChildren(...spec.make());
      }
    });
    while (row.children.length > cells.length) row.lastElementChild?.remove();
    // Moved only when out of place: moving a row would take the focus from it.
    if (tbody.children[index] !== row) tbody.insertBefore(row, tbody.children[index] ?? null);
  });
  for (const [key, row] of rows) if (!keep.has(key)) row.remove();
  if (focusKey !== undefined && !tbody.contains(document.activeElement)) {
    for (const candidate of tbody.querySelectorAll('[data-focus]')) {
      if (candidate instanceof HTMLElement && candidate.dataset.focus === focusKey) {
        candidate.focus({ preventScroll: true });
        break;
      }
    }
  }
}

/** @param {number} bytes @returns {string} e.g. `1.2 KB` */
export function formatBytes(bytes) {
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  if (bytes < 1e6) return `${(bytes / 1000).toFixed(bytes < 1e4 ? 1 : 0)} KB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** @param {number} seconds @returns {string} `m:ss` */
export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * The `--bind` flag that would let other devices reach the server on the port this page came
 * by (a URL's default port when it names none).
 * @param {{ protocol: string, port: string }} page the page's location
 */
export function lanBindFlag(page) {
  return `--bind 0.0.0.0:${page.port || (page.protocol === 'https:' ? '443' : '80')}`;
}

/** @param {string} hex `#rrggbb` @returns {[number, number, number]} */
function channels(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [n >> 16, (n >> 8) & 255, n & 255];
}

/** WCAG 2 relative luminance of an sRGB colour. @param {[number, number, number]} rgb 0-255 each */
function luminance(rgb) {
  const [r, g, b] = rgb.map((c) => {
    const v = c / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/**
 * The WCAG 2 contrast ratio of two opaque colours, from 1 to 21.
 * @param {[number, number, number] | string} a `#rrggbb` or 0-255 channels
 * @param {[number, number, number] | string} b
 */
export function contrastRatio(a, b) {
  const [hi, lo] = [a, b].map((c) => luminance(typeof c === 'string' ? channels(c) : c)).sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * `colour`, lightened toward white just enough to be read against `backdrop` at `ratio` (WCAG
 * AA for text is 4.5): a player's colour that stays theirs, and legible.
 * @param {string} colour `#rrggbb`
 * @param {string} backdrop `#rrggbb`, darker than white
 * @param {number} [ratio]
 * @returns {string} `#rrggbb`
 */
export function legibleOn(colour, backdrop, ratio = 4.5) {
  const from = channels(colour);
  for (let white = 0; white <= 100; white += 2) {
    const mixed = /** @type {[number, number, number]} */ (from.map((c) => Math.round(c + ((255 - c) * white) / 100)));
    if (contrastRatio(mixed, backdrop) >= ratio) return `#${mixed.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
  }
  return '#ffffff';
}

/** Splits text into what a reader takes for one character each, where the browser can tell. */
const graphemes = typeof Intl !== 'undefined' && 'Segmenter' in Intl ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;

/**
 * The longest start of `text` that is at most `maxBytes` of UTF-8 and ends between two
 * graphemes (where `Intl.Segmenter` is missing, between two code points): a family emoji, a
 * flag or a letter with its accent is kept whole or left out whole, never cut into a dangling
 * joiner or a bare base. The protocol counts bytes: the SDK would cut a longer chat line or
 * name itself, without a word and within a grapheme.
 * @param {string} text @param {number} maxBytes
 */
export function fitUtf8(text, maxBytes) {
  // At most 3 bytes per UTF-16 unit (a surrogate pair is 4 bytes for 2 units): short enough.
  if (text.length * 3 <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  const parts = graphemes ? Array.from(graphemes.segment(text), (s) => s.segment) : Array.from(text);
  for (const part of parts) {
    const size = utf8Length(part);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += part.length;
  }
  return text.slice(0, end);
}

/** @param {string} text */
function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    // A surrogate pair: 4 bytes for its two units (a lone surrogate is sent as U+FFFD, 3).
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Keeps a text field within `maxBytes` of UTF-8 as it is typed into or pasted in, as
 * `maxlength` would if it counted bytes (it counts UTF-16 units: 200 of them hold 200 "é",
 * which are 400 bytes): what went in at the caret is cut to fit, at a grapheme, and the text
 * after the caret stays. Not while an input method composes (changing the value then breaks
 * the composition): once it ends.
 * @param {HTMLInputElement} input @param {number} maxBytes @param {AbortSignal} [signal]
 */
export function limitUtf8(input, maxBytes, signal) {
  const fit = () => {
    const value = input.value;
    if (utf8Length(value) <= maxBytes) return;
    const caret = input.selectionEnd ?? value.length;
    const tail = value.slice(caret);
    const head = fitUtf8(value.slice(0, caret), Math.max(0, maxBytes - utf8Length(tail)));
    input.value = fitUtf8(head + tail, maxBytes);
    const at = Math.min(head.length, input.value.length);
    input.setSelectionRange?.(at, at);
  };
  input.addEventListener('input', (e) => { if (!(/** @type {InputEvent} */ (e).isComposing)) fit(); }, { signal });
  input.addEventListener('compositionend', fit, { signal });
}
