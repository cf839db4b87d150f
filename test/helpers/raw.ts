// Raw-socket HTTP for requests no well-behaved client would send: now in raw-http.ts.
export { rawExchange } from './raw-http.js';
