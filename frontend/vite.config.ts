import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

// Appended to loglevel's code: the levels persisted in localStorage (keys "loglevel…") and the cookies,
// read once per page.
const LOGLEVEL_READ_ONCE = `
var cdssPersistedLevels;
function cdssPersistedOnce() {
  if (!cdssPersistedLevels) {
    var levels = {};
    var cookie = '';
    try {
      for (var i = 0; i < window.localStorage.length; i++) {
        var key = window.localStorage.key(i);
        if (key && key.indexOf('loglevel') === 0) levels[key] = window.localStorage.getItem(key);
      }
    } catch (ignore) {}
    try { cookie = window.document.cookie; } catch (ignore) {}
    cdssPersistedLevels = { levels: levels, cookie: cookie };
  }
  return cdssPersistedLevels;
}
`;

/**
 * loglevel (Cornerstone's logger, in its own copy inside dcmjs) reads each new logger's persisted level from localStorage and
 * then document.cookie, a synchronous call out of the page; Cornerstone makes hundreds of
 * loggers while the viewer chunk evaluates, all before the first image. Here the two are read
 * once per page, with the same result. Fails the build if loglevel's code no longer matches.
 */
const LOGLEVEL_COPIES = ['/node_modules/dcmjs/build/dcmjs.es.js', '/node_modules/loglevel/lib/loglevel.js'];

function loglevelReadOnce(): Plugin {
  const stored = 'storedLevel = window.localStorage[storageKey];';
  const cookie = 'var cookie = window.document.cookie;';
  return {
    name: 'cdss-loglevel-read-once',
    enforce: 'pre',
    transform(code: string, id: string) {
      if (!LOGLEVEL_COPIES.some((path) => id.includes(path))) return null;
      if (!code.includes(stored) || !code.includes(cookie)) throw new Error('loglevel changed: review cdss-loglevel-read-once in vite.config.ts');
      return code.replace(stored, 'storedLevel = cdssPersistedOnce().levels[storageKey];')
        .replace(cookie, 'var cookie = cdssPersistedOnce().cookie;') + LOGLEVEL_READ_ONCE;
    },
  };
}

// Django serves the build: index.html is the portal shell, assets live under /static/.
// The "events" package is a dependency because vtk.js (inside Cornerstone3D) extends Node's
// EventEmitter in code the viewer chunk evaluates; without the browser shim that chunk fails
// to load ("Class extends value undefined").
export default defineConfig({
  base: '/static/',
  plugins: [loglevelReadOnce()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The viewer chunk (Cornerstone3D + vtk.js) is large by nature; it loads only on study pages.
    chunkSizeWarningLimit: 6000,
    rollupOptions: {
      output: {
        manualChunks(id: string): string | undefined {
          if (id.includes('node_modules/uplot')) return 'chart';
          return undefined;
        },
      },
    },
  },
  // Cornerstone's image decoder runs in module workers (see docs/ARCHITECTURE.md).
  worker: { format: 'es' },
  optimizeDeps: {
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: ['dicom-parser'],
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
