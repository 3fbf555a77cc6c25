import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';

interface Transaction {
  manager: EntityManager;
  committed: Array<() => void>;
}

/**
 * One database transaction around a use case. Repositories and the outbox read `manager`: inside
 * `run` it is the transaction's, so every write of the use case commits or rolls back together.
 */
@Injectable()
export class UnitOfWork {
  private readonly transaction = new AsyncLocalStorage<Transaction>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Runs `work` in a transaction; a unit of work started inside another joins it. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active) {
      return work();
    }
    const committed: Array<() => void> = [];
    const result = await this.dataSource.transaction((manager) =>
      this.transaction.run({ manager, committed }, work),
    );
    committed.forEach((callback) => callback());
    return result;
  }

  /** True inside `run`. */
  get active(): boolean {
    return this.transaction.getStore() !== undefined;
  }

  /** The running transaction's entity manager, or the connection pool's outside a unit of work. */
  get manager(): EntityManager {
    return this.transaction.getStore()?.manager ?? this.dataSource.manager;
  }

  /** Calls `callback` once the running transaction has committed (never after a rollback). */
  afterCommit(callback: () => void): void {
    const transaction = this.transaction.getStore();
    if (!transaction) {
      throw new Error('afterCommit needs a running unit of work');
    }
    transaction.committed.push(callback);
  }
}
