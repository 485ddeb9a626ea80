/**
 * The orchestrator's view of an engine: the same calls whether it runs in this thread or in a worker.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Engine, type ConnectResult, type EngineInit, type EngineResult, type Progress, type RunTimes } from './engine';
import type { WorkerRequest } from './worker';

export interface EngineHandle {
  connect(concurrency: number): Promise<ConnectResult>;
  start(times: RunTimes): Promise<void>;
  progress(): Promise<Progress>;
  /** Ends publishing; with `at` the measured window ends there too (stopped early). */
  stopPublishing(at?: number): Promise<void>;
  finish(): Promise<EngineResult>;
}

export function localEngine(init: EngineInit): EngineHandle {
  const e = new Engine(init);
  return {
    connect: (c) => e.connect(c),
    start: async (t) => e.start(t),
    progress: async () => e.progress(),
    stopPublishing: async (at) => e.stopPublishing(at),
    finish: () => e.finish(),
  };
}

type Omit2<T> = T extends unknown ? Omit<T, 'id'> : never;

export function workerEngine(init: EngineInit): EngineHandle {
  const w = new Worker(join(__dirname, 'worker.js'), { workerData: init });
  let seq = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  w.on('message', (m: { id: number; result: unknown }) => {
    const p = waiting.get(m.id);
    waiting.delete(m.id);
    p?.resolve(m.result);
  });
  w.on('error', (err) => {
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
  });
  const call = <T>(req: Omit2<WorkerRequest>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++seq;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ ...req, id });
    });
  return {
    connect: (concurrency) => call<ConnectResult>({ method: 'connect', concurrency }),
    start: (times) => call<void>({ method: 'start', times }),
    progress: () => call<Progress>({ method: 'progress' }),
    stopPublishing: (at) => call<void>(at === undefined ? { method: 'stopPublishing' } : { method: 'stopPublishing', at }),
    finish: async () => {
      const r = await call<EngineResult>({ method: 'finish' });
      await w.terminate();
      return r;
    },
  };
}
