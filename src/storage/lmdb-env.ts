/**
 * The embedded store: one LMDB environment in the data directory with a database per kind of
 * state. Keys are arrays that start with the tenant id, so each tenant's data is one key range; the
 * layout is versioned in the `meta` database.
 *
 * Writes are asynchronous and batched by lmdb-js: every write made in one event-loop turn goes into
 * one transaction with one commit (group commit). With durability `sync` a write's promise resolves
 * once its transaction is flushed to disk; with `relaxed` once it is committed, the flush following
 * in the background (a process crash loses nothing; a power loss may lose the last moments).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { RatatoskError } from '../errors';

export const LAYOUT_VERSION = 1;

export type Durability = 'sync' | 'relaxed';

export type Key = (string | number)[];

export interface LmdbEnv {
  readonly root: RootDatabase;
  readonly sessions: Database<unknown, Key>;
  readonly inbox: Database<unknown, Key>;
  readonly retained: Database<unknown, Key>;
  readonly durability: Durability;
  /** Resolves when every write so far is durable. */
  flushed(): Promise<void>;
  close(): Promise<void>;
}

export function openLmdb(dataDir: string, durability: Durability): LmdbEnv {
  let root: RootDatabase;
  try {
    mkdirSync(dataDir, { recursive: true });
    root = open({
      path: join(dataDir, 'ratatosk.mdb'),
      compression: false,
      // sync: a commit is only reported once flushed; relaxed: flushed after the commit is reported.
      overlappingSync: durability === 'relaxed',
      mapSize: 1024 * 1024 * 1024,
    });
  } catch (err) {
    throw new RatatoskError('RTK_STORE_OPEN', `${dataDir}: ${(err as Error).message}`);
  }
  const meta = root.openDB<unknown, string>({ name: 'meta' });
  const layout = meta.get('layout');
  if (layout === undefined) {
    meta.putSync('layout', LAYOUT_VERSION);
  } else if (layout !== LAYOUT_VERSION) {
    root.close();
    throw new RatatoskError('RTK_STORE_VERSION', `${dataDir} has layout ${String(layout)}, this version reads ${LAYOUT_VERSION}`);
  }
  const env: LmdbEnv = {
    root,
    sessions: root.openDB({ name: 'sessions' }),
    inbox: root.openDB({ name: 'inbox' }),
    retained: root.openDB({ name: 'retained' }),
    durability,
    flushed: async () => {
      await root.committed;
      await root.flushed;
    },
    close: async () => {
      await root.committed;
      await root.flushed;
      await root.close();
    },
  };
  return env;
}
