/**
 * @tcpstate/model/browser: the parts of the model that use no Node API (TCP
 * state names, timelines, pairing, the compressed-axis layout), for code
 * bundled for the browser. The package root also exports endpoint parsing,
 * which needs node:net.
 */
export * from './tcp-state.js';
export * from './timeline.js';
export * from './timeline-layout.js';
