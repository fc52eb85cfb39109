import { defineConfig } from 'vitest/config';

// One WebGPU device per test file; files run one at a time because lavapipe already uses both cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { XDG_RUNTIME_DIR: '/tmp' },
  },
});
