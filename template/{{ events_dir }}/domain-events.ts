import { Injectable, Logger } from '@nestjs/common';
import type { OnModuleDestroy, Type } from '@nestjs/common';
import { Subject, filter } from 'rxjs';
import type { Subscription } from 'rxjs';

/** A minimal in-process event bus for domain events (no broker, no persistence). */
@Injectable()
export class DomainEvents implements OnModuleDestroy {
  private readonly logger = new Logger(DomainEvents.name);
  private readonly stream = new Subject<object>();

  publish(event: object): void {
    this.stream.next(event);
  }

  on<T extends object>(type: Type<T>, handler: (event: T) => unknown): Subscription {
    return this.stream
      .pipe(filter((event): event is T => event instanceof type))
      .subscribe((event) => {
        Promise.resolve()
          .then(() => handler(event))
          .catch((error: unknown) =>
            this.logger.error(`handler of ${type.name} failed: ${String(error)}`),
          );
      });
  }

  onModuleDestroy(): void {
    this.stream.complete();
  }
}
