import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** Integration events this service has consumed, one row per (event, consumer): the inbox. */
@Entity({ name: 'integration_inbox' })
export class InboxEntry {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @PrimaryColumn({ type: 'varchar', length: 64 })
  consumer: string;

  @Column({ type: 'varchar', length: 128 })
  type: string;

  @Column({ type: 'varchar', length: 64 })
  source: string;

  @Column({ type: 'text' })
  payload: string;

  @CreateDateColumn({ name: 'received_at' })
  receivedAt: Date;
}
