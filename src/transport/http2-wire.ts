// Moved to ./http2/wire.ts; this path is kept for existing imports.
export * from './http2/wire';
