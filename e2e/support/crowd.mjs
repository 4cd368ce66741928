// A crowd of bare Socket.IO clients over WebSocket, in a worker thread of
// its own so that thousands of sockets do not slow the test's own client.
// Started with {port, count, addresses}; posts {connected, failed, firstError}
// once every socket has connected or failed, then {heard: true} once each
// connected socket has received a message whose body is `awaited` (sent as
// {await: body}); {close: true} ends every socket.
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

const { port, count, addresses } = workerData;

/** Resolves with the WebSocket once the server has said CONNECT back. */
function enter(localAddress) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { localAddress });
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('0')) ws.send('40');
      else if (text.startsWith('40')) resolve(ws);
      else if (text.startsWith('44')) reject(new Error(`refused: ${text}`));
      else if (text === '2') ws.send('3');
    });
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error(`closed (${code}) before CONNECT`)));
  });
}

const crowd = [];
const entered = await Promise.allSettled(
  Array.from({ length: count }, (_, i) => enter(`127.0.4.${(i % addresses) + 1}`).then((ws) => crowd.push(ws))),
);
const failed = entered.filter((e) => e.status === 'rejected');
parentPort.postMessage({ connected: crowd.length, failed: failed.length, firstError: failed[0] && String(failed[0].reason) });

parentPort.on('message', async (message) => {
  if (message.await) {
    await Promise.all(crowd.map((ws) => new Promise((resolve) => {
      const listener = (data) => {
        if (data.toString().includes(JSON.stringify(message.await))) { ws.off('message', listener); resolve(); }
      };
      ws.on('message', listener);
    })));
    parentPort.postMessage({ heard: true });
  }
  if (message.close) {
    for (const ws of crowd) ws.terminate();
    parentPort.close();
  }
});
