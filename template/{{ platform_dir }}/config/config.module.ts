import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { envConfig } from './env';

/**
 * @nestjs/config with the validated configuration (env.ts). The process environment is the only
 * source: no .env file is read (locally, `.env` is exported into the shell, as the README shows).
 */
@Module({
  imports: [ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: [envConfig] })],
})
export class PlatformConfigModule {}
