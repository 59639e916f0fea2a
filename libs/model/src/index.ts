export * from './tcp-state.js';
export * from './endpoint.js';
export * from './cidr.js';
export * from './filter.js';
export * from './timeline.js';
export * from './timeline-layout.js';
