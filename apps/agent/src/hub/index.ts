// The event hub: seqs, replay window, per-subscriber filters and bounded queues.
export { EventHub, type EventHubOptions, type HubStats, type SubscribeContext, type SubscriberStats } from './event-hub.js';
export { RequestError } from './subscribe-request.js';
export { type EventBatch } from './replay-window.js';
