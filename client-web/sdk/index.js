// tickwire JavaScript SDK: see README.md. Plain ES modules, no dependencies; runs in browsers
// and in Node 20+ (pass a WebSocket implementation where there is no global one).

export * from './src/constants.js';
export * from './src/errors.js';
export * from './src/messages.js';
export * from './src/snapshot.js';
export * from './src/session.js';
export * from './src/interpolation.js';
export * from './src/client.js';
export * from './src/records.js';
export { HttpSocket, SESSION_HEADER, MAX_POST_BODY } from './src/http.js';
export { Reader, Writer } from './src/wire.js';
