// Placeholder: the node:http2 transport is being written. Selecting it fails loudly until then.
import type { Transport, TransportConfig } from './transport';

export function createHttp2Transport(_config: TransportConfig): Transport {
  throw new TypeError("transport 'http2' is not available yet");
}
