// Raw-socket HTTP for requests no well-behaved client would send.
import net from 'node:net';

/** Sends `data` and collects what comes back until close or `timeoutMs`. */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 2000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      s.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    setTimeout(() => finish(false), timeoutMs).unref();
  });
}
