export * from './netns.js';
export * from './nginx.js';
export * from './programs.js';
export * from './postgres.js';
