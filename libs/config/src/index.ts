export * from './options.js';
export * from './values.js';
export * from './run-program.js';
