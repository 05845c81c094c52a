// Numeric options, checked where they are given: a string from an environment variable or a
// data- attribute would otherwise be concatenated into each deadline (`lastHeardAt + "5000"`)
// and show up much later as a session that reconnects over and over, or pings every tick.

/**
 * The longest delay a timer takes (2^31 - 1 ms, about 24.8 days): a longer one fires at once,
 * and a deadline that far would wake the driver in a loop.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * @typedef {object} NumberBounds
 * @property {number} min the least value taken
 * @property {boolean} [above] `min` itself is not taken (a positive number: 0 would be meaningless)
 * @property {number} [max] the most value taken
 * @property {boolean} [integer] whole numbers only (counts)
 * @property {boolean} [infinite] `Infinity` is taken too (a check or a limit turned off)
 */

/**
 * `value` if it is a number within `bounds`, `fallback` if it is undefined (or null); throws a
 * TypeError for anything but a number (NaN included), a RangeError for a number out of bounds,
 * naming the option (`name`) and the value.
 * @param {string} name the option as the caller spells it, e.g. `reconnect.maxAttempts`
 * @param {unknown} value @param {number} fallback @param {NumberBounds} bounds
 * @returns {number}
 */
export function numberOption(name, value, fallback, bounds) {
  if (value === undefined || value === null) return fallback;
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`${name} is ${typeof value === 'number' ? 'NaN' : `a ${typeof value} (${shown})`}, not a number: expected ${expected(bounds)}`);
  }
  const inRange = value === Infinity
    ? bounds.infinite === true
    : Number.isFinite(value) && (bounds.above ? value > bounds.min : value >= bounds.min)
      && (bounds.max === undefined || value <= bounds.max) && (!bounds.integer || Number.isInteger(value));
  if (!inRange) throw new RangeError(`${name} ${shown} is out of range: expected ${expected(bounds)}`);
  return value;
}

/** What `bounds` take, in words. @param {NumberBounds} bounds */
function expected(bounds) {
  const kind = bounds.integer ? 'an integer' : 'a number';
  const range = bounds.max === undefined
    ? `${bounds.above ? '>' : '>='} ${bounds.min}`
    : `${bounds.above ? 'over' : 'from'} ${bounds.min} to ${bounds.max}`;
  return `${kind} ${range}${bounds.infinite ? ', or Infinity' : ''}`;
}
