// docker-compose.yml and its Dockerfile, checked without a container engine: the file parses as
// YAML with the services docs/operations.md describes (etcd ×3, meta ×2, storage ×3, mount); every
// `spindle` command and flag in it is one the CLI accepts (asked of the CLI's own --help); every
// `etcd` flag is one the installed etcd-server accepts; names and ports agree across services (meta
// lists, etcd URLs and cluster, published ports); and the Dockerfile installs what they run.
// With Debian's docker-compose installed, `docker-compose config -q` validates it too.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PACKAGE_ROOT } from '../../common/package-root.js';

interface Service {
  image?: string;
  build?: string;
  command: string[];
  ports?: string[];
  depends_on?: string[];
}

const compose = parse(readFileSync(join(PACKAGE_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const dockerfile = readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8');
const services = compose.services;

/** Value of `--flag` in a command, or undefined. */
function flag(command: string[], name: string): string | undefined {
  const index = command.indexOf(name);
  return index < 0 ? undefined : command[index + 1];
}

function helpOf(argv: string[]): string {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: PACKAGE_ROOT });
  return `${result.stdout}${result.stderr}`;
}

const flagsOf = (command: string[]) => command.filter((word) => word.startsWith('--'));

describe('docker-compose.yml', () => {
  it('has the services of docs/operations.md, all from the image the Dockerfile builds', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['etcd1', 'etcd2', 'etcd3', 'meta1', 'meta2', 'mount', 'storage1', 'storage2', 'storage3'].sort(),
    );
    for (const [name, service] of Object.entries(services)) {
      expect(service.image, name).toBe('spindle:local');
      expect(service.build, name).toBe('.');
      expect(Array.isArray(service.command), name).toBe(true);
      for (const dependency of service.depends_on ?? []) expect(Object.keys(services), name).toContain(dependency);
    }
    expect(dockerfile).toMatch(/etcd-server/);
    expect(dockerfile).toMatch(/fuse3/);
    expect(dockerfile).toMatch(/\/usr\/local\/bin\/spindle/);
  });

  it('uses only spindle commands and flags the CLI accepts', () => {
    const helps = new Map<string, string>();
    for (const [name, service] of Object.entries(services)) {
      const [program, subcommand] = service.command;
      if (program !== 'spindle') continue;
      if (!helps.has(subcommand!)) {
        helps.set(
          subcommand!,
          helpOf([process.execPath, join(PACKAGE_ROOT, 'bin/spindle.mjs'), subcommand!, '--help']),
        );
      }
      const help = helps.get(subcommand!)!;
      expect(help, `${name}: spindle ${subcommand} --help`).toMatch(/Usage:/);
      for (const option of flagsOf(service.command)) expect(help, `${name} uses ${option}`).toContain(option);
      for (const port of ['--port', '--metrics-port', '--bulk-port']) {
        const value = flag(service.command, port);
        if (value !== undefined) expect(Number(value), `${name} ${port}`).toBeGreaterThan(0);
      }
    }
    expect([...helps.keys()].sort()).toEqual(['meta', 'mount', 'storage']);
  });

  it('uses only etcd flags the installed etcd-server accepts, and one consistent etcd cluster', () => {
    const help = helpOf(['etcd', '--help']);
    const etcds = Object.entries(services).filter(([, service]) => service.command[0] === 'etcd');
    expect(etcds).toHaveLength(3);
    const clientUrls: string[] = [];
    for (const [name, service] of etcds) {
      for (const option of flagsOf(service.command)) expect(help, `${name} uses ${option}`).toContain(option);
      expect(flag(service.command, '--name')).toBe(name);
      clientUrls.push(flag(service.command, '--advertise-client-urls')!);
      const cluster = flag(service.command, '--initial-cluster')!.split(',');
      expect(cluster.sort()).toEqual(etcds.map(([member]) => `${member}=http://${member}:2380`).sort());
    }
    // Every meta uses every member, with the limits the members were started with.
    for (const name of ['meta1', 'meta2']) {
      const command = services[name]!.command;
      expect(flag(command, '--kv')).toBe('etcd');
      expect(flag(command, '--etcd')!.split(',').sort()).toEqual(clientUrls.sort());
      expect(flag(command, '--etcd-max-txn-ops')).toBe(flag(etcds[0]![1].command, '--max-txn-ops'));
      expect(flag(command, '--etcd-max-request-bytes')).toBe(flag(etcds[0]![1].command, '--max-request-bytes'));
    }
  });

  it('gives storage nodes and the mount every meta address at the port each meta listens on', () => {
    const metaAddresses = ['meta1', 'meta2'].map((name) => `${name}:${flag(services[name]!.command, '--port')}`);
    for (const name of ['storage1', 'storage2', 'storage3', 'mount']) {
      expect(flag(services[name]!.command, '--meta')!.split(',').sort(), name).toEqual(metaAddresses.sort());
    }
    for (const [name, service] of Object.entries(services)) {
      const host = flag(service.command, '--host');
      if (host !== undefined) expect(host, `${name} announces its service name`).toBe(name);
      for (const mapping of service.ports ?? []) {
        const containerPort = mapping.split(':').at(-1)!;
        const listened = ['--port', '--metrics-port'].map((option) => flag(service.command, option));
        expect(listened, `${name} publishes ${mapping}`).toContain(containerPort);
        expect(dockerfile).toMatch(new RegExp(`EXPOSE[^\\n]*\\b${containerPort}\\b`));
      }
    }
  });

  it('passes docker-compose config when docker-compose is installed', (context) => {
    const probe = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
    if (probe.error !== undefined) {
      // No container engine on this machine (the checks above still ran).
      context.skip();
      return;
    }
    const result = spawnSync('docker-compose', ['-f', join(PACKAGE_ROOT, 'docker-compose.yml'), 'config', '-q'], {
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
  });
});
