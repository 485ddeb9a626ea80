/**
 * Worker-thread entry: one Engine driven by messages from the orchestrator (see handle.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Engine, type EngineInit, type RunTimes } from './engine';

export type WorkerRequest =
  | { id: number; method: 'connect'; concurrency: number }
  | { id: number; method: 'start'; times: RunTimes }
  | { id: number; method: 'progress' }
  | { id: number; method: 'stopPublishing'; at?: number }
  | { id: number; method: 'finish' };

const port = parentPort;
if (port !== null) {
  const engine = new Engine(workerData as EngineInit);
  port.on('message', (m: WorkerRequest) => {
    const reply = (result: unknown): void => port.postMessage({ id: m.id, result });
    switch (m.method) {
      case 'connect':
        void engine.connect(m.concurrency).then(reply);
        return;
      case 'start':
        engine.start(m.times);
        reply(undefined);
        return;
      case 'progress':
        reply(engine.progress());
        return;
      case 'stopPublishing':
        engine.stopPublishing(m.at);
        reply(undefined);
        return;
      case 'finish':
        void engine.finish().then(reply);
        return;
    }
  });
}
