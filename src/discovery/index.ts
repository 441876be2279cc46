// Service registration and discovery (README "Service registration and discovery"), built only on the public
// client API (src/core.ts).

export { Registry, Registration, type RegistryOptions, type RegisterOptions, type LostCallback, type RestoredCallback, type ReplacedCallback } from './registry';
export { Discovery, type DiscoveryOptions, type OnlineCallback, type OfflineCallback } from './discovery';
export type { ServiceInstance } from './catalog';
export { registerEtcdResolver, type EtcdResolverOptions, type GrpcModule } from './resolver';
export type { DiscoveryFormat } from './layout';
