import type { INestApplication } from '@nestjs/common';

export const LIVENESS_PATH = '/health/live';

const ALIVE = Object.freeze({ status: 'ok' });

/**
 * Serves GET /health/live on the HTTP adapter itself, ahead of Nest's router. Liveness checks no
 * dependency and needs no token, so the global guards, pipes and filters have nothing to do for it;
 * skipping them keeps a probe that every replica answers every few seconds cheap, and a fault in
 * them (a guard that throws) cannot get healthy pods restarted. The security headers still apply:
 * configureApplication sets them before it registers this route.
 */
export function registerLiveness(app: INestApplication): void {
  const adapter = app.getHttpAdapter();
  adapter.get(LIVENESS_PATH, (_request: unknown, response: unknown) => {
    adapter.reply(response, ALIVE, 200);
  });
}
