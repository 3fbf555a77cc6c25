// The NestJS modules @nestjs/throttler requires in tests (see jest-require-esm.cjs).
import * as common from '@nestjs/common';
import * as core from '@nestjs/core';

(globalThis as Record<symbol, unknown>)[Symbol.for('nest-esm')] = {
  '@nestjs/common': common,
  '@nestjs/core': core,
};
