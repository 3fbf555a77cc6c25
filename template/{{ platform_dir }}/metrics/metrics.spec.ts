import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

describe('metrics', () => {
  it('exposes the HTTP histogram with route, method and status_code labels', async () => {
    const service = new MetricsService();
    service.observe('/api/v1/items/:id', 'GET', 200, 0.012);
    const text = await new MetricsController(service).scrape();
    expect(text).toContain('http_request_duration_seconds_bucket');
    expect(text).toContain('route="/api/v1/items/:id",method="GET",status_code="200"');
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});
