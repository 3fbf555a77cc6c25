import { Global, Module } from '@nestjs/common';
import { ENV, validateEnv } from './env';

/** Validates the environment once, when the application starts, and shares the result. */
@Global()
@Module({
  providers: [{ provide: ENV, useFactory: () => validateEnv(process.env) }],
  exports: [ENV],
})
export class PlatformConfigModule {}
