// What the game page's markup asks of the browser, read from index.html itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

const html = await readFile(new URL('../../index.html', import.meta.url), 'utf8');

test('the page can be zoomed: the lobby\'s forms are read and filled at any size', () => {
  const meta = /<meta\s+name="viewport"\s+content="([^"]*)"/.exec(html);
  assert.ok(meta, 'a viewport meta tag');
  /** @type {Map<string, string>} */
  const viewport = new Map(meta[1].split(',').map((part) => {
    const [key, value = ''] = part.split('=').map((s) => s.trim().toLowerCase());
    return [key, value];
  }));
  // The game view stops pinches itself (`touch-action: none`); the lobby must not.
  assert.ok(!['no', '0'].includes(viewport.get('user-scalable') ?? 'yes'), `user-scalable=${viewport.get('user-scalable')}`);
  const most = viewport.get('maximum-scale');
  assert.ok(most === undefined || Number(most) >= 2, `maximum-scale=${most}`);
  // The HUD keeps clear of notches itself (css/game.css, the --safe-* insets).
  assert.equal(viewport.get('viewport-fit'), 'cover');
});

test('the pages name every URL relative to themselves, so a reverse proxy may serve them under a path prefix', async () => {
  const pages = { 'index.html': html, 'dashboard.html': await readFile(new URL('../../dashboard.html', import.meta.url), 'utf8') };
  for (const [name, page] of Object.entries(pages)) {
    const urls = [...page.matchAll(/\b(?:href|src|action)="([^"]*)"/g)].map((m) => m[1]);
    assert.ok(urls.length > 3, `${name}: its URLs are found`);
    // `/@assets/` is the server's placeholder, rewritten to a relative `./assets/<version>/`.
    const rooted = urls.filter((url) => url.startsWith('/') && !url.startsWith('/@assets/'));
    assert.deepEqual(rooted, [], `${name}: root-absolute URLs`);
  }
});

test('the room-name field is labelled by its own words alone, not by the Join button beside it', () => {
  const form = /<form id="create-form"[\s\S]*?<\/form>/.exec(html)?.[0] ?? '';
  assert.match(form, /<label for="room-name">Join or create a room by name<\/label>/);
  // A label wrapping the button too adds its text to the field's name ("... by name Join").
  for (const label of form.matchAll(/<label\b[\s\S]*?<\/label>/g)) {
    assert.doesNotMatch(label[0], /<button/, label[0]);
  }
  assert.doesNotMatch(form, /<label\b[^>]*>(?:(?!<\/label>)[\s\S])*id="room-name"/, 'no label wraps the field');
});
