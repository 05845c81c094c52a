// Test support for unit tests in Node: a stand-in page with just what the game's and the lobby's
// code touch of the DOM. `document.querySelector` hands out one element per selector, made on
// first use, so a test reads what the code wrote into `#invite-link` and the like.

/** A class list that keeps its classes. */
export function classList() {
  const names = new Set();
  return {
    add: (/** @type {string} */ c) => { names.add(c); },
    remove: (/** @type {string} */ c) => { names.delete(c); },
    contains: (/** @type {string} */ c) => names.has(c),
    toggle: (/** @type {string} */ c, /** @type {boolean} */ on = !names.has(c)) => {
      if (on) names.add(c); else names.delete(c);
      return on;
    },
  };
}

/**
 * A stand-in element: an event target with the properties and methods the pages use.
 * @param {string} [tagName]
 * @returns {any}
 */
export function element(tagName = 'DIV') {
  /** @type {Record<string, string>} */
  const attributes = {};
  /** @type {any[]} */
  const children = [];
  /** @type {any} */
  const node = Object.assign(new EventTarget(), {
    tagName, hidden: false, textContent: '', className: '', value: '', checked: false, href: '', src: '',
    inert: false, dataset: {}, style: {}, classList: classList(), parentNode: null,
    get children() { return children; },
    get firstElementChild() { return children[0] ?? null; },
    // In place: Object.assign took `children` once, as a value rather than as a getter.
    replaceChildren: (/** @type {any[]} */ ...nodes) => { children.splice(0, children.length, ...nodes); },
    append: (/** @type {any[]} */ ...nodes) => {
      for (const child of nodes) if (typeof child === 'object' && child) child.parentNode = node;
      children.push(...nodes);
    },
    // As the lobby moves its room rows into order.
    insertBefore: (/** @type {any} */ child, /** @type {any} */ before) => {
      child.remove?.();
      const at = before === null ? -1 : children.indexOf(before);
      children.splice(at < 0 ? children.length : at, 0, child);
      if (typeof child === 'object' && child) child.parentNode = node;
      return child;
    },
    // Out of its parent, as the chat's overflow takes its oldest lines.
    remove() {
      const at = node.parentNode?.children.indexOf(node) ?? -1;
      if (at >= 0) node.parentNode.children.splice(at, 1);
      node.parentNode = null;
    },
    focus() {},
    blur() {},
    select() {},
    contains: () => false,
    closest: () => null,
    querySelectorAll: () => [],
    setAttribute: (/** @type {string} */ name, /** @type {string} */ value) => { attributes[name] = String(value); },
    removeAttribute: (/** @type {string} */ name) => { delete attributes[name]; },
    getAttribute: (/** @type {string} */ name) => attributes[name] ?? null,
    hasAttribute: (/** @type {string} */ name) => name in attributes,
    getBoundingClientRect: () => ({ left: 0, top: 0, width: 0, height: 0 }),
    getContext: () => ({}),
  });
  // As the DOM's: the text of the children (a string child stands for a text node), and
  // setting it replaces them; code that skips writing an unchanged text reads it back.
  Object.defineProperty(node, 'textContent', {
    get: () => children.map((c) => (typeof c === 'string' ? c : c?.textContent ?? '')).join(''),
    set: (/** @type {unknown} */ value) => {
      const text = value === null || value === undefined ? '' : String(value);
      children.splice(0, children.length, ...(text === '' ? [] : [text]));
    },
  });
  return node;
}

/** Installs the stand-in page as Node's globals. @returns {{ document: any, window: EventTarget }} */
export function installPage() {
  /** @type {Map<string, any>} */
  const bySelector = new Map();
  const document = Object.assign(new EventTarget(), {
    hidden: false,
    title: '',
    activeElement: null,
    querySelector(/** @type {string} */ selector) {
      if (!bySelector.has(selector)) bySelector.set(selector, element(selector === '#view' ? 'CANVAS' : 'DIV'));
      return bySelector.get(selector);
    },
    createElement: (/** @type {string} */ tag) => element(tag.toUpperCase()),
  });
  const g = /** @type {any} */ (globalThis);
  g.document = document;
  g.window ??= new EventTarget();
  // Node 20 has no navigator (the controls read gamepads from it).
  g.navigator ??= {};
  g.location = new URL('http://arena.test/');
  g.history = { state: null, replaceState() {} };
  g.requestAnimationFrame = () => 0;
  return { document, window: g.window };
}

/**
 * A `fetch` whose replies the test sends, in the order it likes: each call is recorded with
 * its URL and a `reply(body)` that resolves it with a JSON response.
 * @returns {{ url: string, reply: (body: unknown) => void }[]}
 */
export function heldFetch() {
  /** @type {{ url: string, reply: (body: unknown) => void }[]} */
  const calls = [];
  /** @type {any} */ (globalThis).fetch = (/** @type {string} */ url) => new Promise((resolve) => {
    calls.push({ url: String(url), reply: (body) => resolve({ ok: true, status: 200, json: async () => body }) });
  });
  return calls;
}
