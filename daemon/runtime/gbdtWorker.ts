// Worker-thread entry for trainInWorker (daemon/runtime/gbdt.ts): trains one
// model and answers with its JSON. A thread of its own because training takes
// tens of seconds of pure computation that would otherwise stall the daemon.
import { parentPort } from 'node:worker_threads';
import { trainQuantileGbdt, type TrainReply, type TrainRequest } from './gbdt';

if (parentPort) {
  const port = parentPort;
  port.once('message', (req: TrainRequest) => {
    let reply: TrainReply;
    try {
      reply = { ok: true, model: trainQuantileGbdt(req.data, req.opts).toJSON() };
    } catch (err) {
      reply = { ok: false, message: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(reply);
  });
}
