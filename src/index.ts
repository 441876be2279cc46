// Public entry of etcd-apiv3. Generated message types are not exported here: they live behind
// `client.raw` and the `etcd-apiv3/proto` subpath.

export * from './core';
export {
  Registry,
  Registration,
  Discovery,
  registerEtcdResolver,
  type RegistryOptions,
  type RegisterOptions,
  type DiscoveryOptions,
  type DiscoveryFormat,
  type ServiceInstance,
  type OnlineCallback,
  type OfflineCallback,
  type LostCallback,
  type RestoredCallback,
  type ReplacedCallback,
  type EtcdResolverOptions,
  type GrpcModule,
} from './discovery';
