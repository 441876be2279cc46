// The node:http2 transport: see ./transport.ts for how it works.

import type { Transport, TransportConfig } from '../transport';
import { Http2Transport } from './transport';

export { Http2Transport };

/** The node:http2 transport (`transport: 'http2'` or ETCD_APIV3_TRANSPORT=http2). */
export function createHttp2Transport(config: TransportConfig): Transport {
  return new Http2Transport(config);
}
