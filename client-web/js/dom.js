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
