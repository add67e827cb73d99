import Docker from 'dockerode';
import { PlexusError } from '@plexus/core';
import { HOSTING_ERRORS } from './errors.js';

/** Label on every container this plugin makes: the host node's peer id (several hosts may share a daemon). */
export const HOST_LABEL = 'plexus.hosting.host';
/** Label with the lease id. */
export const LEASE_LABEL = 'plexus.hosting.lease';

/** What one instance's container is made of. */
export interface ContainerSpec {
  name: string;
  image: string;
  cpus: number;
  memoryMb: number;
  bindIp: string;
  userPort: number;
  peerPort: number;
  /** Host directory mounted read-write at /data (the instance's only writable storage besides /tmp). */
  dataDir: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** `uid:gid` to run as (per-instance users); default: the image's user. */
  user?: string;
}

export interface ContainerInfo {
  id: string;
  name: string;
  state: string;
  labels: Record<string, string>;
}

/** The Docker Engine API (dockerode) for what hosting needs: images, one container per instance. */
export class DockerHost {
  readonly api: Docker;

  constructor(readonly socket: string) {
    this.api = new Docker({ socketPath: socket });
  }

  /** @throws ERR_HOSTING_DOCKER when the daemon does not answer. */
  async ping(): Promise<void> {
    try {
      await this.api.ping();
    } catch (err) {
      throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_DOCKER, `no Docker daemon answers on ${this.socket}: ${(err as Error).message}`, { cause: err });
    }
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      await this.api.getImage(image).inspect();
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false;
      throw err;
    }
  }

  /** Creates and starts the container; on any failure removes what was created, then throws. */
  async run(spec: ContainerSpec): Promise<string> {
    const port = (p: number): string => `${p}/tcp`;
    const container = await this.api.createContainer({
      name: spec.name,
      Image: spec.image,
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      Labels: spec.labels,
      ...(spec.user === undefined ? {} : { User: spec.user }),
      ExposedPorts: { [port(spec.userPort)]: {}, [port(spec.peerPort)]: {} },
      HostConfig: {
        Memory: spec.memoryMb * 1024 * 1024,
        MemorySwap: spec.memoryMb * 1024 * 1024, // no swap beyond the memory share
        NanoCpus: Math.round(spec.cpus * 1e9),
        PidsLimit: 512,
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
        Binds: [`${spec.dataDir}:/data:rw`],
        // The instance's two ports, published on the same numbers, nothing else.
        PortBindings: {
          [port(spec.userPort)]: [{ HostIp: spec.bindIp, HostPort: String(spec.userPort) }],
          [port(spec.peerPort)]: [{ HostIp: spec.bindIp, HostPort: String(spec.peerPort) }],
        },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        RestartPolicy: { Name: 'unless-stopped' },
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
      },
    });
    try {
      await container.start();
    } catch (err) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw err;
    }
    return container.id;
  }

  /** Starts an existing, stopped container. */
  async start(name: string): Promise<void> {
    await this.api.getContainer(name).start();
  }

  /** Removes a container and its anonymous volumes; a missing one is fine. */
  async remove(name: string): Promise<void> {
    try {
      await this.api.getContainer(name).remove({ force: true, v: true });
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 404 && code !== 409) throw err; // 409: removal already in progress
    }
  }

  /** Containers carrying `label=value`, running or not. */
  async list(label: string, value: string): Promise<ContainerInfo[]> {
    const all = await this.api.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
    return all.map((c) => ({ id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), state: c.State, labels: c.Labels }));
  }

  /** The container's inspect data, or undefined when there is none. */
  async inspect(name: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.api.getContainer(name).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }
}
