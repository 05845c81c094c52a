// The renderer's effects, in Node on a stand-in canvas: a tab that draws no frames (hidden)
// while ships keep scoring keeps a bounded number of them, the newest.
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { Renderer } = await import('../../js/render.js');

test('score popups and sparks are capped, the oldest dropped, while no frame prunes them', () => {
  const canvas = /** @type {HTMLCanvasElement} */ (/** @type {unknown} */ ({ getContext: () => ({}) }));
  const renderer = new Renderer(canvas);
  // A busy room in a hidden tab: ships score, and not one frame is drawn.
  for (let i = 1; i <= 5000; i++) renderer.burst(100, 100, i, '#ffd43b');
  assert.equal(renderer.popups.length, 50);
  assert.equal(renderer.popups[0].text, '+4951');
  assert.equal(renderer.popups[renderer.popups.length - 1].text, '+5000', 'the newest kept');
  assert.equal(renderer.particles.length, 600);
});
