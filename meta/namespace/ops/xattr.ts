// Extended attributes: SetXattr, GetXattr, ListXattr, RemoveXattr. Each attribute is one key
// (XATR ‖ ino ‖ name, schema.ts) holding the raw value; the inode's has_xattrs flag makes its
// deletion remove them. A final symlink is never followed (the mount addresses inodes by id).
//
// Linux semantics: names carry a namespace prefix ("user.", "trusted.", "security."; "system."
// is ACLs and capabilities, which Spindle does not enforce, so it is refused); XATTR_CREATE on an
// existing attribute is EEXIST, XATTR_REPLACE or a get/remove of a missing one is ENODATA
// (NO_ATTRIBUTE); names up to 255 bytes, values up to 64 KiB (E2BIG beyond), and an inode's name
// list up to 64 KiB. Setting or removing an attribute changes the inode's ctime.
// Permissions (permissions.ts): reading needs r on the inode, changing w, trusted.* root.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import {
  GetXattrRequest,
  type ListXattrResponse,
  SetXattrRequest,
  type StatRequest,
  XattrResponse,
} from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { describePath, requireExisting, resolvePath } from '../path.js';
import { ADMIN_CALLER, type Caller, READ, requireAccess, requireRoot, searchCheck, WRITE } from '../permissions.js';
import type { MetaTxn } from '../store.js';
import { requirePathAt } from '../validate.js';

/** Longest attribute name in bytes (Linux XATTR_NAME_MAX). */
const XATTR_NAME_MAX_BYTES = 255;
/** Largest attribute value in bytes (Linux XATTR_SIZE_MAX). */
const XATTR_VALUE_MAX_BYTES = 64 * 1024;
/** Largest name list of one inode in bytes, NULs included (Linux XATTR_LIST_MAX). */
const XATTR_LIST_MAX_BYTES = 64 * 1024;
/** Namespaces accepted (system.* would promise ACL or capability enforcement). */
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.'];

function requireXattrName(name: string, method: string): string {
  const bytes = Buffer.byteLength(name ?? '', 'utf8');
  if (bytes === 0 || name.includes('\0'))
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${method}: field 'name' must be a non-empty name without NUL`);
  if (bytes > XATTR_NAME_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.NAME_TOO_LONG,
      `${method}: attribute name is ${bytes} bytes; the limit is ${XATTR_NAME_MAX_BYTES}`,
    );
  }
  if (!XATTR_NAMESPACES.some((prefix) => name.startsWith(prefix) && name.length > prefix.length)) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${method}: attribute name '${name}' must start with ${XATTR_NAMESPACES.join(', ')} and go on`,
    );
  }
  return name;
}

function missing(method: string, name: string): SpindleError {
  return new SpindleError(ErrorCode.NO_ATTRIBUTE, `${method}: the inode has no attribute '${name}'`);
}

/**
 * The inode named, after the caller's checks (permissions.ts): search along the path, `want` on
 * the inode, and root for a trusted.* attribute (`name`).
 */
async function inodeOf(
  mt: MetaTxn,
  request: { at?: StatRequest['at'] },
  method: string,
  caller: Caller,
  want: number,
  name?: string,
) {
  const at = requirePathAt(request.at, method);
  const inode = requireExisting(
    await resolvePath(mt, at, { followLast: false, search: searchCheck(caller, method) }),
    at,
  );
  if (name?.startsWith('trusted.')) requireRoot(caller, method, 'use trusted.* attributes');
  requireAccess(caller, inode, want, method, describePath(at));
  return inode;
}

export async function setXattr(
  ctx: NamespaceContext,
  request: SetXattrRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<XattrResponse> {
  const method = 'SetXattr';
  requirePathAt(request.at, method);
  const name = requireXattrName(request.name, method);
  if (request.value.byteLength > XATTR_VALUE_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.ATTRIBUTE_TOO_LARGE,
      `${method}: value is ${request.value.byteLength} bytes; the limit is ${XATTR_VALUE_MAX_BYTES}`,
    );
  }
  if (request.createOnly && request.replaceOnly)
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${method}: create_only and replace_only exclude each other`);
  return ctx.mutate(
    {
      method,
      tag: request.tag,
      requestBytes: SetXattrRequest.encode(request).finish(),
      response: XattrResponse,
      signal,
    },
    async (mt) => {
      const inode = await inodeOf(mt, request, method, caller, WRITE, name);
      const current = await mt.getXattr(inode.ino, name);
      if (current !== undefined && request.createOnly)
        throw new SpindleError(ErrorCode.EXISTS, `${method}: attribute '${name}' already exists`);
      if (current === undefined && request.replaceOnly) throw missing(method, name);
      if (current === undefined) {
        const names = await mt.listXattrs(inode.ino, Number.MAX_SAFE_INTEGER);
        const listBytes = names.reduce((sum, x) => sum + Buffer.byteLength(x.name) + 1, 0);
        if (listBytes + Buffer.byteLength(name) + 1 > XATTR_LIST_MAX_BYTES) {
          throw new SpindleError(
            ErrorCode.NO_SPACE,
            `${method}: the inode's attribute names would exceed ${XATTR_LIST_MAX_BYTES} bytes`,
          );
        }
      }
      mt.putXattr(inode, name, request.value);
      inode.ctimeUs = mt.nowUs;
      mt.touch(inode);
      return { value: Buffer.alloc(0) };
    },
  );
}

export async function getXattr(
  ctx: NamespaceContext,
  request: GetXattrRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<XattrResponse> {
  const method = 'GetXattr';
  requirePathAt(request.at, method);
  const name = requireXattrName(request.name, method);
  return ctx.read(async (mt) => {
    const inode = await inodeOf(mt, request, method, caller, READ, name);
    const value = inode.hasXattrs ? await mt.getXattr(inode.ino, name) : undefined;
    if (value === undefined) throw missing(method, name);
    return { value: Buffer.from(value.buffer, value.byteOffset, value.byteLength) };
  }, signal);
}

export async function listXattr(
  ctx: NamespaceContext,
  request: StatRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<ListXattrResponse> {
  requirePathAt(request.at, 'ListXattr');
  return ctx.read(async (mt) => {
    const inode = await inodeOf(mt, request, 'ListXattr', caller, READ);
    if (!inode.hasXattrs) return { names: [] };
    return { names: (await mt.listXattrs(inode.ino, Number.MAX_SAFE_INTEGER)).map((x) => x.name) };
  }, signal);
}

export async function removeXattr(
  ctx: NamespaceContext,
  request: GetXattrRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<XattrResponse> {
  const method = 'RemoveXattr';
  requirePathAt(request.at, method);
  const name = requireXattrName(request.name, method);
  return ctx.mutate(
    {
      method,
      tag: request.tag,
      requestBytes: GetXattrRequest.encode(request).finish(),
      response: XattrResponse,
      signal,
    },
    async (mt) => {
      const inode = await inodeOf(mt, request, method, caller, WRITE, name);
      if (!inode.hasXattrs || (await mt.getXattr(inode.ino, name)) === undefined) throw missing(method, name);
      mt.deleteXattr(inode.ino, name);
      inode.ctimeUs = mt.nowUs;
      mt.touch(inode);
      return { value: Buffer.alloc(0) };
    },
  );
}
