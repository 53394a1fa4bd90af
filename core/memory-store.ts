import { expiryFrom, isLive, type StateStore, type StoredRecord, type WriteOptions } from './store.ts';

/** The default store: one process's memory. Health, limits and idempotency then hold for this instance only. */
export class MemoryStore implements StateStore {
  private readonly records = new Map<string, StoredRecord>();
  private counter = 0;

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    const record = this.records.get(key);
    if (!isLive(record)) return undefined;
    return structuredClone(record) as StoredRecord<T>;
  }

  async put<T>(key: string, value: T, options?: WriteOptions): Promise<boolean> {
    if (isLive(this.records.get(key))) return false;
    this.write(key, value, options);
    return true;
  }

  async update<T>(key: string, value: T, version: string, options?: WriteOptions): Promise<boolean> {
    const current = this.records.get(key);
    if (!isLive(current) || current!.version !== version) return false;
    this.write(key, value, options);
    return true;
  }

  async delete(key: string, version?: string): Promise<void> {
    if (version === undefined || this.records.get(key)?.version === version) this.records.delete(key);
  }

  private write<T>(key: string, value: T, options?: WriteOptions): void {
    const expiresAt = expiryFrom(options);
    this.counter += 1;
    this.records.set(key, {
      key,
      value: structuredClone(value),
      version: String(this.counter),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    });
  }
}
