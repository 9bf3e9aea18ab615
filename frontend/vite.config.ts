import { defineConfig } from 'vitest/config';

// Django serves the build: index.html is the portal shell, assets live under /static/.
// The "events" package is a dependency because vtk.js (inside Cornerstone3D) extends Node's
// EventEmitter in code the viewer chunk evaluates; without the browser shim that chunk fails
// to load ("Class extends value undefined").
export default defineConfig({
  base: '/static/',
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
