// From a checked client configuration to a live connection: the transport it names, then the Connection on
// top of it (authentication, retries, deadlines). Nothing connects yet: the transport opens its first
// connection on the first call.

import type { ClientConfig } from './client-options';
import { Connection } from './connection';
import type { GrpcJsTransport } from './transport/grpc-js';
import { createHttp2Transport } from './transport/http2';
import type { Transport } from './transport/transport';

/** @internal The connection of a Client configured by `config` (see parseClientArgs). */
export function connect(config: ClientConfig): Connection {
  const conn = new Connection(createTransport(config), config.credentials);
  conn.keepAliveGraceMs = config.keepAliveGraceMs;
  if (config.timeoutMs !== undefined) conn.timeoutMs = config.timeoutMs;
  return conn;
}

function createTransport(config: ClientConfig): Transport {
  if (config.transportName === 'grpc-js') {
    // Loaded on first use: grpc-js adds ~15 MB of RSS to a process that only talks over node:http2.
    const { GrpcJsTransport: Impl } = require('./transport/grpc-js') as { GrpcJsTransport: typeof GrpcJsTransport };
    return new Impl(config.transport);
  }
  return createHttp2Transport(config.transport);
}
