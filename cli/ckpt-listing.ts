// The read-only output of `spindle ckpt ls` and `spindle ckpt show`: tables for people, one JSON
// line with --json. Neither changes anything in the checkpoint directory.
import type { CheckpointManifest, Checkpoints } from '../client/checkpoints/index.js';
import type { CommandContext } from './file-commands.js';
import { formatBytes, formatTable, formatTime } from './format.js';

/** Shards `ckpt show` lists before it says how many more there are (--json lists all). */
const SHOW_SHARDS_LISTED_MAX = 200;

function totalBytes(manifest: CheckpointManifest): number {
  return manifest.shards.reduce((sum, shard) => sum + shard.bytes, 0);
}

function when(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : formatTime(date);
}

export async function listCheckpoints(ctx: CommandContext, checkpoints: Checkpoints, o: { json?: boolean }) {
  const inventory = await checkpoints.inventory();
  const steps = inventory.steps.map(({ step, path, manifest, damage }) =>
    manifest === undefined
      ? { step, path, damage }
      : {
          step,
          path,
          saveId: manifest.saveId,
          createdAt: manifest.createdAt,
          worldSize: manifest.worldSize,
          shards: manifest.shards.length,
          bytes: totalBytes(manifest),
        },
  );
  if (o.json) {
    ctx.out.write(`${JSON.stringify({ ...inventory, steps })}\n`);
    return;
  }
  if (steps.length === 0) ctx.out.write(`no committed step in ${inventory.dir}\n`);
  const rows = [['STEP', 'RANKS', 'SHARDS', 'SIZE', 'CREATED', 'SAVE']];
  for (const entry of steps) {
    if (entry.damage !== undefined) {
      rows.push([String(entry.step), '-', '-', '-', '-', `damaged: ${entry.damage}`]);
    } else {
      rows.push([
        String(entry.step),
        String(entry.worldSize),
        String(entry.shards),
        formatBytes(entry.bytes ?? 0),
        when(entry.createdAt ?? ''),
        entry.saveId ?? '',
      ]);
    }
  }
  if (steps.length > 0)
    for (const line of formatTable(rows, [true, true, true, true, false])) ctx.out.write(`${line}\n`);
  for (const save of inventory.saves) {
    const ranks = `ranks began ${save.ranksBegun.length}, finished ${save.ranksFinished.length}`;
    const status = save.abandoned === undefined ? 'in progress' : `abandoned (${save.abandoned}; gc collects it)`;
    ctx.out.write(`save ${save.saveId} of step ${save.step}: ${status}, ${ranks}: ${save.path}\n`);
  }
  for (const path of inventory.deleting) ctx.out.write(`interrupted delete (gc collects it): ${path}\n`);
  for (const path of inventory.other) ctx.out.write(`not a checkpoint entry: ${path}\n`);
}

export async function showCheckpoint(
  ctx: CommandContext,
  checkpoints: Checkpoints,
  step: number | 'latest',
  o: { json?: boolean },
) {
  const manifest = await checkpoints.load(step);
  if (o.json) {
    ctx.out.write(`${JSON.stringify({ dir: checkpoints.dir, ...manifest })}\n`);
    return;
  }
  const bytes = totalBytes(manifest);
  const summary = [
    ['dir', checkpoints.dir],
    ['step', String(manifest.step)],
    ['save', manifest.saveId],
    ['created', manifest.createdAt],
    ['ranks', String(manifest.worldSize)],
    ['shards', String(manifest.shards.length)],
    ['bytes', `${formatBytes(bytes)} (${bytes})`],
    ['metadata', manifest.userMetadata === undefined ? '-' : JSON.stringify(manifest.userMetadata)],
  ];
  for (const line of formatTable(summary)) ctx.out.write(`${line}\n`);
  const rows = [['RANK', 'SHARD', 'BYTES', 'CRC32C']];
  for (const shard of manifest.shards.slice(0, SHOW_SHARDS_LISTED_MAX)) {
    rows.push([String(shard.rank), shard.name, String(shard.bytes), shard.crc32c.toString(16).padStart(8, '0')]);
  }
  ctx.out.write('\n');
  for (const line of formatTable(rows, [true, false, true])) ctx.out.write(`${line}\n`);
  if (manifest.shards.length > SHOW_SHARDS_LISTED_MAX) {
    ctx.out.write(`… and ${manifest.shards.length - SHOW_SHARDS_LISTED_MAX} more shards (--json lists all)\n`);
  }
}
