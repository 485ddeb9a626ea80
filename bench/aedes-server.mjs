#!/usr/bin/env node
// A minimal Aedes broker for the comparison runner: MQTT over TCP on 127.0.0.1:<port>, Nagle off,
// in-memory persistence (Aedes' defaults). Usage: node bench/aedes-server.mjs <port>
import net from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2] ?? 1883);
const aedes = await Aedes.createBroker();
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  aedes.handle(socket);
});
server.listen(port, '127.0.0.1', () => console.log(`aedes listening on ${port}`));
const stop = () => server.close(() => aedes.close(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
