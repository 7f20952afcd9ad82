// Describes the machine a benchmark ran on (recorded in every row) and the allocator settings
// its processes ran with.
import { cpus, hostname, release, totalmem } from 'node:os';
import { mallocSettings } from '../cluster/index.js';
import type { MachineInfo } from './types.js';

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: (list[0]?.model ?? 'unknown').trim(),
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    hostname: hostname(),
  };
}

/** The glibc malloc settings every bench child (servers and load generators) runs with. */
export function allocatorSettings(): Record<string, string> {
  return mallocSettings();
}
