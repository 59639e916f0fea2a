export * from './tcp-state.js';
export * from './endpoint.js';
