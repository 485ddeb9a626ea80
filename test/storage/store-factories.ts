/**
 * The implementations the storage contract suites run against, behind one factory shape:
 * open() gives a fresh, empty store; reopen() gives what a restarted broker would see (the memory
 * store is the same instance; the LMDB one closes the environment and opens the directory again).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLmdb, type LmdbEnv } from '../../src/storage/lmdb-env';
import { LmdbSessionStore } from '../../src/storage/lmdb-session-store';
import { MemorySessionStore } from '../../src/storage/memory-session-store';
import { LmdbRetainStore } from '../../src/retain/lmdb-retain-store';
import { MemoryRetainStore } from '../../src/retain/memory-retain-store';
import type { SessionStore } from '../../src/session/session-store';
import type { RetainStore } from '../../src/retain/retain-store';

export interface Opened<S> {
  store: S;
  /** Write errors the store reported (must stay empty). */
  errors: unknown[];
}

export interface StoreFactory<S> {
  name: string;
  /** Whether the store survives a restart (reopen gives a new instance over the same data). */
  durable: boolean;
  open(): Promise<Opened<S>>;
  reopen(opened: Opened<S>): Promise<Opened<S>>;
  /** Closes everything and removes the data. */
  dispose(opened: Opened<S>): Promise<void>;
}

interface LmdbOpened<S> extends Opened<S> {
  env: LmdbEnv;
  dir: string;
}

function lmdbFactory<S extends { close(): Promise<void> }>(
  name: string,
  make: (env: LmdbEnv, onError: (err: unknown) => void) => S,
): StoreFactory<S> {
  const openAt = (dir: string, errors: unknown[]): LmdbOpened<S> => {
    const env = openLmdb(dir, 'sync');
    return { store: make(env, (err) => errors.push(err)), errors, env, dir };
  };
  return {
    name,
    durable: true,
    async open() {
      return openAt(mkdtempSync(join(tmpdir(), 'rtk-store-')), []);
    },
    async reopen(opened) {
      const o = opened as LmdbOpened<S>;
      await o.store.close();
      await o.env.close();
      return openAt(o.dir, o.errors);
    },
    async dispose(opened) {
      const o = opened as LmdbOpened<S>;
      try {
        await o.store.close();
        await o.env.close();
      } finally {
        rmSync(o.dir, { recursive: true, force: true });
      }
    },
  };
}

export const sessionStoreFactories: StoreFactory<SessionStore>[] = [
  {
    name: 'MemorySessionStore',
    durable: false,
    async open() {
      return { store: new MemorySessionStore(), errors: [] };
    },
    async reopen(opened) {
      return opened;
    },
    async dispose(opened) {
      await opened.store.close();
    },
  },
  lmdbFactory<SessionStore>('LmdbSessionStore', (env, onError) => new LmdbSessionStore(env, onError)),
];

export const retainStoreFactories: StoreFactory<RetainStore>[] = [
  {
    name: 'MemoryRetainStore',
    durable: false,
    async open() {
      return { store: new MemoryRetainStore(), errors: [] };
    },
    async reopen(opened) {
      return opened;
    },
    async dispose(opened) {
      await opened.store.close();
    },
  },
  lmdbFactory<RetainStore>('LmdbRetainStore', (env, onError) => new LmdbRetainStore(env, onError)),
];
