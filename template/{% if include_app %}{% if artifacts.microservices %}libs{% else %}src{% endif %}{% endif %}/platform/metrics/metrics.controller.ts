import { Controller, Get, Header, VERSION_NEUTRAL } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../security/public.decorator';
import { SkipRateLimit } from '../throttling/rate-limit';
import { MetricsService } from './metrics.service';

/** GET /metrics in the Prometheus text format, outside the API prefix. */
@ApiExcludeController()
@Public()
@SkipRateLimit()
@Controller({ path: 'metrics', version: VERSION_NEUTRAL })
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
