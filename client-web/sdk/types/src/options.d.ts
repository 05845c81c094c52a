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
export function numberOption(name: string, value: unknown, fallback: number, bounds: NumberBounds): number;
/**
 * The longest delay a timer takes (2^31 - 1 ms, about 24.8 days): a longer one fires at once,
 * and a deadline that far would wake the driver in a loop.
 */
export const MAX_TIMER_MS: number;
export type NumberBounds = {
    /**
     * the least value taken
     */
    min: number;
    /**
     * `min` itself is not taken (a positive number: 0 would be meaningless)
     */
    above?: boolean | undefined;
    /**
     * the most value taken
     */
    max?: number | undefined;
    /**
     * whole numbers only (counts)
     */
    integer?: boolean | undefined;
    /**
     * `Infinity` is taken too (a check or a limit turned off)
     */
    infinite?: boolean | undefined;
};
