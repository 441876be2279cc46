// Service registration and discovery (README "Service registration and discovery"), built only on the public
// client API (src/core.ts).

export { Registry, type RegistryOptions, type RegisterOptions } from './registry';
export { Registration, type LostCallback, type RestoredCallback, type ReplacedCallback } from './registration';
export { Discovery, type DiscoveryOptions, type OnlineCallback, type OfflineCallback } from './discovery';
export type { ServiceInstance } from './catalog';
export { registerEtcdResolver, type EtcdResolverOptions, type GrpcModule } from './resolver';
export type { DiscoveryFormat } from './layout';
