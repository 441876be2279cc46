/**
 * A throw-away PKI for TLS tests, made with the `openssl` command line (the one tool the kit needs besides
 * etcd), in a temporary directory that is removed by cleanup() and, whatever happens, when the process ends.
 *
 *   const pki = makeCerts();
 *   pki.ca            // CA that signed everything below (PEM file paths in pki.files, PEM text here)
 *   pki.server        // SAN IP:127.0.0.1, DNS:localhost — for etcd's --cert-file/--key-file
 *   pki.cluster       // SAN DNS:etcd-cluster only — reachable over 127.0.0.1 only with targetNameOverride
 *   pki.client        // client certificate (CN etcd-apiv3-client) for mutual TLS
 *   pki.otherCa       // an unrelated CA: verifying the server with it must fail
 *   pki.jwtKeys()     // an RSA key pair for etcd's --auth-token=jwt (made on first use)
 *   pki.cleanup()
 *
 * Keys are EC P-256 (fast to make, accepted by etcd and Node); certificates are valid for two days.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { releaseDir, trackDir } from './reaper';
import type { ClientTls } from './util';

/** TLS for an etcd the kit starts, as files: what etcd serves and what the kit's own calls present. */
export interface EtcdTlsOptions {
  /** etcd's --cert-file (PEM path). */
  certFile: string;
  /** etcd's --key-file. */
  keyFile: string;
  /**
   * etcd's --trusted-ca-file: the CA client certificates must be signed by. etcd then *requires* a client
   * certificate, with or without `clientCertAuth`; leave it out for server-only TLS.
   */
  trustedCaFile?: string;
  /** etcd's --client-cert-auth: clients must present a certificate signed by `trustedCaFile`. */
  clientCertAuth?: boolean;
  /** The CA the kit's health checks and etcdctl verify the server with (default `trustedCaFile`; none: no check). */
  caFile?: string;
  /** The certificate the kit's own calls present (default `certFile`/`keyFile`, which then needs clientAuth use). */
  clientCertFile?: string;
  clientKeyFile?: string;
  /**
   * The name the server certificate is issued for when it does not cover 127.0.0.1 (e.g. 'etcd-cluster'): the
   * health checks verify against it, and etcdctl, which cannot override the name, skips verification.
   */
  serverName?: string;
}

/** etcd's TLS flags for `tls`. */
export function etcdTlsArgs(tls: EtcdTlsOptions): string[] {
  return [
    `--cert-file=${tls.certFile}`,
    `--key-file=${tls.keyFile}`,
    ...(tls.trustedCaFile ? [`--trusted-ca-file=${tls.trustedCaFile}`] : []),
    ...(tls.clientCertAuth ? ['--client-cert-auth'] : []),
  ];
}

/** What the kit's own HTTPS requests (health, status, gateway) use with `tls`. */
export function kitClientTls(tls: EtcdTlsOptions): ClientTls {
  const out: ClientTls = {
    cert: fs.readFileSync(tls.clientCertFile ?? tls.certFile),
    key: fs.readFileSync(tls.clientKeyFile ?? tls.keyFile),
  };
  const caFile = tls.caFile ?? tls.trustedCaFile;
  if (caFile) out.ca = fs.readFileSync(caFile);
  if (tls.serverName) out.servername = tls.serverName;
  return out;
}

/** etcdctl's TLS flags with `tls`. */
export function etcdctlTlsArgs(tls: EtcdTlsOptions): string[] {
  const caFile = tls.caFile ?? tls.trustedCaFile;
  return [
    ...(caFile ? [`--cacert=${caFile}`] : []),
    `--cert=${tls.clientCertFile ?? tls.certFile}`,
    `--key=${tls.clientKeyFile ?? tls.keyFile}`,
    // etcdctl cannot verify a certificate issued for another name than the endpoint's host.
    ...(tls.serverName || !caFile ? ['--insecure-skip-tls-verify'] : []),
  ];
}

export interface CertFiles {
  /** Path of the PEM certificate. */
  readonly certFile: string;
  /** Path of the PEM private key. */
  readonly keyFile: string;
  /** The PEM certificate text. */
  readonly cert: string;
  /** The PEM private key text. */
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: CertFiles;
  readonly server: CertFiles;
  readonly cluster: CertFiles;
  readonly client: CertFiles;
  readonly otherCa: CertFiles;
  /** An RSA key pair (PEM paths) for etcd's `--auth-token=jwt,pub-key=…,priv-key=…,sign-method=RS256`. */
  jwtKeys(): { privateKeyFile: string; publicKeyFile: string };
  /** Removes the directory. Idempotent. */
  cleanup(): void;
}

/** etcd's TLS options for client-certificate auth with this PKI: the server cert, the CA, and (for the kit's
 * own calls) the client cert. */
export function mutualTls(pki: TestPki): EtcdTlsOptions {
  return {
    certFile: pki.server.certFile,
    keyFile: pki.server.keyFile,
    trustedCaFile: pki.ca.certFile,
    clientCertAuth: true,
    clientCertFile: pki.client.certFile,
    clientKeyFile: pki.client.keyFile,
  };
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr?.toString() ?? err.message}`);
  }
}

function files(dir: string, name: string): CertFiles {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}-key.pem`);
  return { certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}

/** A new EC P-256 key and a certificate request for it, in one openssl run. */
function keyAndCsr(dir: string, name: string, cn: string, ext: string[]): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), [...ext, ''].join('\n'));
  openssl(dir, [
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}-key.pem`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`,
  ]);
}

function selfSignedCa(dir: string, name: string, cn: string): void {
  keyAndCsr(dir, name, cn, ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash']);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-signkey', `${name}-key.pem`, '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

function signed(dir: string, name: string, cn: string, ext: string[]): void {
  keyAndCsr(dir, name, cn, ext);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial',
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`,
  ]);
}

const SERVER_EXT = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth,clientAuth'];

/** Makes a fresh CA, server, cluster-name, client and unrelated-CA certificate in a new temporary directory. */
export function makeCerts(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'etcd-apiv3-pki-'));
  trackDir(dir);
  try {
    selfSignedCa(dir, 'ca', 'etcd-apiv3 test CA');
    signed(dir, 'server', 'etcd-apiv3 test server', [...SERVER_EXT, 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
    signed(dir, 'cluster', 'etcd-cluster', [...SERVER_EXT, 'subjectAltName=DNS:etcd-cluster']);
    signed(dir, 'client', 'etcd-apiv3-client', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']);
    selfSignedCa(dir, 'other-ca', 'unrelated test CA');
    let jwt: { privateKeyFile: string; publicKeyFile: string } | undefined;
    return {
      dir,
      jwtKeys: () => {
        if (!jwt) {
          openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'jwt-key.pem']);
          openssl(dir, ['pkey', '-in', 'jwt-key.pem', '-pubout', '-out', 'jwt-pub.pem']);
          jwt = { privateKeyFile: path.join(dir, 'jwt-key.pem'), publicKeyFile: path.join(dir, 'jwt-pub.pem') };
        }
        return jwt;
      },
      ca: files(dir, 'ca'),
      server: files(dir, 'server'),
      cluster: files(dir, 'cluster'),
      client: files(dir, 'client'),
      otherCa: files(dir, 'other-ca'),
      cleanup: () => releaseDir(dir),
    };
  } catch (e) {
    releaseDir(dir);
    throw e;
  }
}
