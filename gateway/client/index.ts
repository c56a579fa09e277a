// The member apps' client for the WebSocket feed: dependency-free, browsers and Bun.
export { FeedClient, type FeedClientOptions, type FeedStatus } from "./feed-client.ts";
export * from "./frames.ts";
