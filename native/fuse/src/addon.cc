// spindle_fuse: a small libfuse3 low-level binding for `spindle mount` (mount/).
//
// One FUSE session per process. fuse_session_loop runs on its own thread; every request is handed
// to JavaScript through a ThreadSafeFunction (non-blocking: the loop thread never waits for JS)
// and JavaScript answers later, from its own thread, with one of the reply*() functions below
// (fuse_reply_* may be called from any thread). So any number of requests can be in flight and
// JS handlers are free to be async.
//
// Guarantees:
// - Write payloads are copied out of libfuse's receive buffer before the loop reads the next
//   request, and handed to JS as an external Buffer freed by the GC.
// - 1 MiB reads and writes are negotiated (max_write, max_read, max_readahead, max_pages).
// - unmount() never runs on the loop thread and never blocks: it asks libfuse to exit and
//   unmounts; the loop thread then ends and calls `onExit` on the JS thread; destroy() joins it.
// - After destroy(), replies to requests that were still in flight are dropped (no use after free).
#include <napi.h>
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace {

constexpr unsigned IO_SIZE_MAX_BYTES = 1u << 20;  // 1 MiB reads and writes

enum Op : int {
  OP_LOOKUP = 1,
  OP_GETATTR,
  OP_SETATTR,
  OP_READLINK,
  OP_MKNOD,
  OP_MKDIR,
  OP_UNLINK,
  OP_RMDIR,
  OP_SYMLINK,
  OP_RENAME,
  OP_LINK,
  OP_OPEN,
  OP_READ,
  OP_WRITE,
  OP_FLUSH,
  OP_RELEASE,
  OP_FSYNC,
  OP_OPENDIR,
  OP_READDIR,
  OP_RELEASEDIR,
  OP_STATFS,
  OP_CREATE,
  OP_FORGET,
  OP_SETXATTR,
  OP_GETXATTR,
  OP_LISTXATTR,
  OP_REMOVEXATTR,
  OP_GETLK,
  OP_SETLK,
  OP_FLOCK,
  OP_EXIT = 100,
  OP_INVALIDATED,
};

struct Call {
  int op = 0;
  fuse_req_t req = nullptr;
  uint64_t ino = 0;
  uint64_t parent = 0;
  uint64_t newParent = 0;
  std::string name;
  std::string newName;
  std::string link;
  uint64_t size = 0;
  int64_t offset = 0;
  uint64_t fh = 0;
  bool hasFh = false;
  int flags = 0;
  uint32_t mode = 0;
  uint64_t rdev = 0;
  // Locks: FUSE lock owner (64 random bits; handed to JS as 16 hex digits), the range (end
  // inclusive), type (F_RDLCK/F_WRLCK/F_UNLCK or LOCK_SH/LOCK_EX/LOCK_UN), whether to wait.
  uint64_t lockOwner = 0;
  bool hasLockOwner = false;
  bool flockRelease = false;
  uint64_t lockStart = 0, lockEnd = 0;
  int lockType = 0;
  uint32_t lockPid = 0;
  bool sleep = false;
  int valid = 0;
  bool plus = false;
  bool datasync = false;
  struct stat attr {};
  char* data = nullptr;
  size_t dataLength = 0;
  uint32_t uid = 0, gid = 0, pid = 0, umask = 0;
  int exitCode = 0;
};

struct Session {
  fuse_session* se = nullptr;
  std::thread thread;
  Napi::ThreadSafeFunction tsfn;
  bool mounted = false;
  bool destroyed = false;
};

Session* session = nullptr;
std::atomic<bool> repliesEnabled{false};
/** Invalidation threads still running (destroy() waits a little for them). */
std::atomic<int> invalidating{0};

double timeUs(const struct timespec& ts) { return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3; }

/** True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
bool validUtf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = s[i];
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= n) return false;
    for (size_t k = 1; k <= extra; k++) {
      const unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
    if (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
    i += extra + 1;
  }
  return true;
}

void callJs(Napi::Env env, Napi::Function handler, Call* call) {
  if (env == nullptr || handler.IsEmpty()) {
    if (call->req != nullptr) fuse_reply_err(call->req, EIO);
    delete call;
    return;
  }
  // A name that is not UTF-8 would reach JS with U+FFFD in place of its bad bytes, so two names
  // could become one: refuse it (EINVAL) before anything looks it up or creates it.
  if (!validUtf8(call->name) || !validUtf8(call->newName)) {
    if (call->req != nullptr) fuse_reply_err(call->req, EINVAL);
    delete call;
    return;
  }
  Napi::Object args = Napi::Object::New(env);
  args.Set("ino", Napi::Number::New(env, double(call->ino)));
  if (call->parent) args.Set("parent", Napi::Number::New(env, double(call->parent)));
  if (call->newParent) args.Set("newParent", Napi::Number::New(env, double(call->newParent)));
  if (!call->name.empty()) args.Set("name", Napi::String::New(env, call->name));
  if (!call->newName.empty()) args.Set("newName", Napi::String::New(env, call->newName));
  if (!call->link.empty()) args.Set("link", Napi::String::New(env, call->link));
  args.Set("size", Napi::Number::New(env, double(call->size)));
  args.Set("offset", Napi::Number::New(env, double(call->offset)));
  if (call->hasFh) args.Set("fh", Napi::Number::New(env, double(call->fh)));
  args.Set("flags", Napi::Number::New(env, call->flags));
  args.Set("mode", Napi::Number::New(env, call->mode));
  args.Set("uid", Napi::Number::New(env, call->uid));
  args.Set("gid", Napi::Number::New(env, call->gid));
  args.Set("pid", Napi::Number::New(env, call->pid));
  args.Set("umask", Napi::Number::New(env, call->umask));
  if (call->op == OP_MKNOD) args.Set("rdev", Napi::Number::New(env, double(call->rdev)));
  if (call->hasLockOwner) {
    char owner[17];
    snprintf(owner, sizeof owner, "%016llx", (unsigned long long)call->lockOwner);
    args.Set("lockOwner", Napi::String::New(env, owner));
  }
  if (call->flockRelease) args.Set("flockRelease", Napi::Boolean::New(env, true));
  if (call->op == OP_GETLK || call->op == OP_SETLK || call->op == OP_FLOCK) {
    Napi::Object lock = Napi::Object::New(env);
    lock.Set("type", Napi::Number::New(env, call->lockType));
    lock.Set("start", Napi::Number::New(env, double(call->lockStart)));
    lock.Set("end", Napi::Number::New(env, double(call->lockEnd)));
    lock.Set("pid", Napi::Number::New(env, call->lockPid));
    lock.Set("sleep", Napi::Boolean::New(env, call->sleep));
    args.Set("lock", lock);
  }
  if (call->op == OP_SETATTR) {
    args.Set("valid", Napi::Number::New(env, call->valid));
    Napi::Object attr = Napi::Object::New(env);
    attr.Set("mode", Napi::Number::New(env, call->attr.st_mode));
    attr.Set("uid", Napi::Number::New(env, call->attr.st_uid));
    attr.Set("gid", Napi::Number::New(env, call->attr.st_gid));
    attr.Set("size", Napi::Number::New(env, double(call->attr.st_size)));
    attr.Set("atimeUs", Napi::Number::New(env, timeUs(call->attr.st_atim)));
    attr.Set("mtimeUs", Napi::Number::New(env, timeUs(call->attr.st_mtim)));
    args.Set("attr", attr);
  }
  if (call->op == OP_READDIR) args.Set("plus", Napi::Boolean::New(env, call->plus));
  if (call->op == OP_FSYNC) args.Set("datasync", Napi::Boolean::New(env, call->datasync));
  if (call->op == OP_EXIT) args.Set("exitCode", Napi::Number::New(env, call->exitCode));
  if (call->data != nullptr) {
    char* data = call->data;
    call->data = nullptr;
    args.Set("data", Napi::Buffer<char>::New(env, data, call->dataLength, [](Napi::Env, char* p) { free(p); }));
  }
  double req = double(reinterpret_cast<uintptr_t>(call->req));
  int op = call->op;
  delete call;
  handler.Call({Napi::Number::New(env, op), Napi::Number::New(env, req), args});
}

Call* newCall(int op, fuse_req_t req) {
  Call* call = new Call();
  call->op = op;
  call->req = req;
  if (req != nullptr) {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    call->uid = ctx->uid;
    call->gid = ctx->gid;
    call->pid = uint32_t(ctx->pid);
    call->umask = ctx->umask;
  }
  return call;
}

void dispatch(Call* call) {
  if (session == nullptr || session->tsfn.NonBlockingCall(call, callJs) != napi_ok) {
    if (call->req != nullptr) fuse_reply_err(call->req, EIO);
    free(call->data);
    delete call;
  }
}

void withFi(Call* call, fuse_file_info* fi) {
  if (fi != nullptr) {
    call->fh = fi->fh;
    call->hasFh = true;
    call->flags = fi->flags;
  }
}

// ---- FUSE callbacks (loop thread) -------------------------------------------------------------

void onInit(void*, fuse_conn_info* conn) {
  conn->max_write = IO_SIZE_MAX_BYTES;
  conn->max_read = IO_SIZE_MAX_BYTES;
  conn->max_readahead = IO_SIZE_MAX_BYTES;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO) conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
  // Advisory locks are served by meta (coherent across clients), not kept in this kernel only.
  if (conn->capable & FUSE_CAP_POSIX_LOCKS) conn->want |= FUSE_CAP_POSIX_LOCKS;
  if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
  // The mount does its own write-back buffering per open file; the kernel's would hide flushes.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
}

void onLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Call* c = newCall(OP_LOOKUP, req);
  c->parent = parent;
  c->name = name;
  dispatch(c);
}

void onForget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }

void onForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }

void onGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Call* c = newCall(OP_GETATTR, req);
  c->ino = ino;
  withFi(c, fi);
  dispatch(c);
}

void onSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Call* c = newCall(OP_SETATTR, req);
  c->ino = ino;
  c->attr = *attr;
  c->valid = to_set;
  withFi(c, fi);
  dispatch(c);
}

void onReadlink(fuse_req_t req, fuse_ino_t ino) {
  Call* c = newCall(OP_READLINK, req);
  c->ino = ino;
  dispatch(c);
}

void onMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Call* c = newCall(OP_MKNOD, req);
  c->parent = parent;
  c->name = name;
  c->mode = mode;
  c->rdev = uint64_t(rdev);
  dispatch(c);
}

// Extended attributes: name in `name`, the value (setxattr) as `data`, the caller's buffer size
// (getxattr/listxattr; 0 asks for the size) in `size`, XATTR_CREATE/XATTR_REPLACE in `flags`.
void onSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  char* copy = static_cast<char*>(malloc(size > 0 ? size : 1));
  if (copy == nullptr) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  memcpy(copy, value, size);
  Call* c = newCall(OP_SETXATTR, req);
  c->ino = ino;
  c->name = name;
  c->data = copy;
  c->dataLength = size;
  c->flags = flags;
  dispatch(c);
}

void onGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Call* c = newCall(OP_GETXATTR, req);
  c->ino = ino;
  c->name = name;
  c->size = size;
  dispatch(c);
}

void onListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Call* c = newCall(OP_LISTXATTR, req);
  c->ino = ino;
  c->size = size;
  dispatch(c);
}

void onRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Call* c = newCall(OP_REMOVEXATTR, req);
  c->ino = ino;
  c->name = name;
  dispatch(c);
}

void onMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Call* c = newCall(OP_MKDIR, req);
  c->parent = parent;
  c->name = name;
  c->mode = mode;
  dispatch(c);
}

void onUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Call* c = newCall(OP_UNLINK, req);
  c->parent = parent;
  c->name = name;
  dispatch(c);
}

void onRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Call* c = newCall(OP_RMDIR, req);
  c->parent = parent;
  c->name = name;
  dispatch(c);
}

void onSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Call* c = newCall(OP_SYMLINK, req);
  c->link = link;
  c->parent = parent;
  c->name = name;
  dispatch(c);
}

void onRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
              unsigned int flags) {
  Call* c = newCall(OP_RENAME, req);
  c->parent = parent;
  c->name = name;
  c->newParent = newparent;
  c->newName = newname;
  c->flags = int(flags);
  dispatch(c);
}

void onLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Call* c = newCall(OP_LINK, req);
  c->ino = ino;
  c->newParent = newparent;
  c->newName = newname;
  dispatch(c);
}

void onOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Call* c = newCall(OP_OPEN, req);
  c->ino = ino;
  c->flags = fi->flags;
  dispatch(c);
}

void onRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Call* c = newCall(OP_READ, req);
  c->ino = ino;
  c->size = size;
  c->offset = off;
  withFi(c, fi);
  dispatch(c);
}

void onWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  // libfuse reuses its receive buffer for the next request: copy the payload out now.
  char* copy = static_cast<char*>(malloc(size > 0 ? size : 1));
  if (copy == nullptr) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  memcpy(copy, buf, size);
  Call* c = newCall(OP_WRITE, req);
  c->ino = ino;
  c->size = size;
  c->offset = off;
  c->data = copy;
  c->dataLength = size;
  withFi(c, fi);
  dispatch(c);
}

void onFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Call* c = newCall(OP_FLUSH, req);
  c->ino = ino;
  withFi(c, fi);
  // close(2): the closing process's POSIX locks on the file go (the kernel leaves that to us).
  c->lockOwner = fi->lock_owner;
  c->hasLockOwner = true;
  dispatch(c);
}

void onRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Call* c = newCall(OP_RELEASE, req);
  c->ino = ino;
  withFi(c, fi);
  // The last close of an open file description: its flock lock goes.
  c->flockRelease = fi->flock_release != 0;
  c->lockOwner = fi->lock_owner;
  c->hasLockOwner = fi->flock_release != 0;
  dispatch(c);
}

void lockCommon(Call* c, fuse_ino_t ino, fuse_file_info* fi, const struct flock* lock) {
  c->ino = ino;
  withFi(c, fi);
  c->lockOwner = fi->lock_owner;
  c->hasLockOwner = true;
  c->lockType = lock->l_type;
  c->lockStart = uint64_t(lock->l_start);
  c->lockEnd = lock->l_len == 0 ? uint64_t(INT64_MAX) : uint64_t(lock->l_start + lock->l_len - 1);
  c->lockPid = uint32_t(lock->l_pid);
}

void onGetlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock) {
  Call* c = newCall(OP_GETLK, req);
  lockCommon(c, ino, fi, lock);
  dispatch(c);
}

void onSetlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep) {
  Call* c = newCall(OP_SETLK, req);
  lockCommon(c, ino, fi, lock);
  c->sleep = sleep != 0;
  dispatch(c);
}

void onFlock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op) {
  Call* c = newCall(OP_FLOCK, req);
  c->ino = ino;
  withFi(c, fi);
  c->lockOwner = fi->lock_owner;
  c->hasLockOwner = true;
  c->lockType = op & ~LOCK_NB;
  c->lockEnd = uint64_t(INT64_MAX);
  c->sleep = (op & LOCK_NB) == 0;
  dispatch(c);
}

void onFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  Call* c = newCall(OP_FSYNC, req);
  c->ino = ino;
  c->datasync = datasync != 0;
  withFi(c, fi);
  dispatch(c);
}

void onOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Call* c = newCall(OP_OPENDIR, req);
  c->ino = ino;
  c->flags = fi->flags;
  dispatch(c);
}

void readdirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  Call* c = newCall(OP_READDIR, req);
  c->ino = ino;
  c->size = size;
  c->offset = off;
  c->plus = plus;
  withFi(c, fi);
  dispatch(c);
}

void onReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  readdirCommon(req, ino, size, off, fi, false);
}

void onReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  readdirCommon(req, ino, size, off, fi, true);
}

void onReleasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Call* c = newCall(OP_RELEASEDIR, req);
  c->ino = ino;
  withFi(c, fi);
  dispatch(c);
}

void onFsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); }

void onStatfs(fuse_req_t req, fuse_ino_t ino) {
  Call* c = newCall(OP_STATFS, req);
  c->ino = ino;
  dispatch(c);
}

void onCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  Call* c = newCall(OP_CREATE, req);
  c->parent = parent;
  c->name = name;
  c->mode = mode;
  c->flags = fi->flags;
  dispatch(c);
}

// ---- JS → native ------------------------------------------------------------------------------

fuse_req_t reqOf(const Napi::Value& v) {
  return reinterpret_cast<fuse_req_t>(uintptr_t(v.As<Napi::Number>().DoubleValue()));
}

double num(const Napi::Object& o, const char* key, double fallback = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

void fillTime(struct timespec& ts, double us) {
  if (us < 0) us = 0;
  ts.tv_sec = time_t(us / 1e6);
  ts.tv_nsec = long((us - double(ts.tv_sec) * 1e6) * 1e3);
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  if (ts.tv_nsec > 999999999) ts.tv_nsec = 999999999;
}

void fillStat(struct stat& st, const Napi::Object& a) {
  memset(&st, 0, sizeof st);
  st.st_ino = ino_t(num(a, "ino"));
  st.st_mode = mode_t(num(a, "mode"));
  st.st_nlink = nlink_t(num(a, "nlink", 1));
  st.st_uid = uid_t(num(a, "uid"));
  st.st_gid = gid_t(num(a, "gid"));
  st.st_size = off_t(num(a, "size"));
  st.st_blksize = blksize_t(num(a, "blksize", IO_SIZE_MAX_BYTES));
  st.st_blocks = blkcnt_t((uint64_t(st.st_size) + 511) / 512);
  st.st_rdev = dev_t(num(a, "rdev"));
  fillTime(st.st_atim, num(a, "atimeUs"));
  fillTime(st.st_mtim, num(a, "mtimeUs"));
  fillTime(st.st_ctim, num(a, "ctimeUs"));
}

void fillEntry(fuse_entry_param& e, const Napi::Object& o) {
  memset(&e, 0, sizeof e);
  e.ino = fuse_ino_t(num(o, "ino"));
  e.generation = 1;
  e.attr_timeout = num(o, "attrTimeoutS");
  e.entry_timeout = num(o, "entryTimeoutS");
  Napi::Value attr = o.Get("attr");
  if (attr.IsObject()) fillStat(e.attr, attr.As<Napi::Object>());
}

bool replyAllowed() { return repliesEnabled.load(); }

Napi::Value ReplyErr(const Napi::CallbackInfo& info) {
  if (replyAllowed()) fuse_reply_err(reqOf(info[0]), info[1].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value ReplyEntry(const Napi::CallbackInfo& info) {
  if (!replyAllowed()) return info.Env().Undefined();
  fuse_entry_param e;
  fillEntry(e, info[1].As<Napi::Object>());
  fuse_reply_entry(reqOf(info[0]), &e);
  return info.Env().Undefined();
}

Napi::Value ReplyCreate(const Napi::CallbackInfo& info) {
  if (!replyAllowed()) return info.Env().Undefined();
  fuse_entry_param e;
  fillEntry(e, info[1].As<Napi::Object>());
  fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.fh = uint64_t(info[2].As<Napi::Number>().DoubleValue());
  fi.keep_cache = info.Length() > 3 && info[3].ToBoolean() ? 1 : 0;
  fuse_reply_create(reqOf(info[0]), &e, &fi);
  return info.Env().Undefined();
}

Napi::Value ReplyAttr(const Napi::CallbackInfo& info) {
  if (!replyAllowed()) return info.Env().Undefined();
  struct stat st;
  fillStat(st, info[1].As<Napi::Object>());
  fuse_reply_attr(reqOf(info[0]), &st, info[2].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}

Napi::Value ReplyReadlink(const Napi::CallbackInfo& info) {
  if (!replyAllowed()) return info.Env().Undefined();
  std::string target = info[1].As<Napi::String>().Utf8Value();
  fuse_reply_readlink(reqOf(info[0]), target.c_str());
  return info.Env().Undefined();
}

Napi::Value ReplyOpen(const Napi::CallbackInfo& info) {
  if (!replyAllowed()) return info.Env().Undefined();
  fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.fh = uint64_t(info[1].As<Napi::Number>().DoubleValue());
  fi.keep_cache = info.Length() > 2 && info[2].ToBoolean() ? 1 : 0;
  fuse_reply_open(reqOf(info[0]), &fi);
  return info.Env().Undefined();
}

// replyXattrSize(req, size): the answer to a getxattr/listxattr that asked for the size only.
Napi::Value ReplyXattrSize(const Napi::CallbackInfo& info) {
  if (replyAllowed()) fuse_reply_xattr(reqOf(info[0]), size_t(info[1].As<Napi::Number>().DoubleValue()));
  return info.Env().Undefined();
}

// replyLock(req, {type, start, end, pid}): the answer to getlk (type F_UNLCK: no conflict).
Napi::Value ReplyLock(const Napi::CallbackInfo& info) {
  if (!replyAllowed()) return info.Env().Undefined();
  Napi::Object o = info[1].As<Napi::Object>();
  struct flock lock;
  memset(&lock, 0, sizeof lock);
  lock.l_type = short(num(o, "type"));
  lock.l_whence = SEEK_SET;
  lock.l_start = off_t(num(o, "start"));
  double end = num(o, "end");
  lock.l_len = end >= 9.2e18 ? 0 : off_t(end - num(o, "start") + 1);
  lock.l_pid = pid_t(num(o, "pid"));
  fuse_reply_lock(reqOf(info[0]), &lock);
  return info.Env().Undefined();
}

// interrupted(req): the caller was interrupted (a signal) while its request waits (blocking locks).
Napi::Value Interrupted(const Napi::CallbackInfo& info) {
  bool yes = replyAllowed() && fuse_req_interrupted(reqOf(info[0])) != 0;
  return Napi::Boolean::New(info.Env(), yes);
}

// invalidateInode(ino, token) → true when started: drops the kernel's cached attributes and pages
// of an inode (another client may have changed them) on a thread of its own, then reports
// OP_INVALIDATED with `offset` = token. Not on the JS thread: the kernel waits for locked pages,
// and a page stays locked until JS answers the read that filled it (a deadlock if JS waited).
Napi::Value InvalidateInode(const Napi::CallbackInfo& info) {
  Session* s = session;
  if (s == nullptr || !s->mounted || !replyAllowed()) return Napi::Boolean::New(info.Env(), false);
  fuse_ino_t ino = fuse_ino_t(info[0].As<Napi::Number>().DoubleValue());
  int64_t token = int64_t(info[1].As<Napi::Number>().DoubleValue());
  fuse_session* se = s->se;
  invalidating++;
  std::thread([se, ino, token]() {
    fuse_lowlevel_notify_inval_inode(se, ino, 0, 0);
    Call* c = newCall(OP_INVALIDATED, nullptr);
    c->ino = ino;
    c->offset = token;
    dispatch(c);
    invalidating--;
  }).detach();
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value ReplyWrite(const Napi::CallbackInfo& info) {
  if (replyAllowed()) fuse_reply_write(reqOf(info[0]), size_t(info[1].As<Napi::Number>().DoubleValue()));
  return info.Env().Undefined();
}

Napi::Value ReplyBuf(const Napi::CallbackInfo& info) {
  if (!replyAllowed()) return info.Env().Undefined();
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  fuse_reply_buf(reqOf(info[0]), reinterpret_cast<const char*>(buf.Data()), buf.ByteLength());
  return info.Env().Undefined();
}

Napi::Value ReplyStatfs(const Napi::CallbackInfo& info) {
  if (!replyAllowed()) return info.Env().Undefined();
  Napi::Object o = info[1].As<Napi::Object>();
  struct statvfs st;
  memset(&st, 0, sizeof st);
  st.f_bsize = (unsigned long)num(o, "bsize", 4096);
  st.f_frsize = (unsigned long)num(o, "frsize", 4096);
  st.f_blocks = fsblkcnt_t(num(o, "blocks"));
  st.f_bfree = fsblkcnt_t(num(o, "bfree"));
  st.f_bavail = fsblkcnt_t(num(o, "bavail"));
  st.f_files = fsfilcnt_t(num(o, "files"));
  st.f_ffree = fsfilcnt_t(num(o, "ffree"));
  st.f_favail = fsfilcnt_t(num(o, "favail"));
  st.f_namemax = (unsigned long)num(o, "namemax", 255);
  fuse_reply_statfs(reqOf(info[0]), &st);
  return info.Env().Undefined();
}

// replyDir(req, size, plus, entries[{name, off, ino, mode, entry?}]) → entries packed.
Napi::Value ReplyDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!replyAllowed()) return Napi::Number::New(env, 0);
  fuse_req_t req = reqOf(info[0]);
  size_t size = size_t(info[1].As<Napi::Number>().DoubleValue());
  bool plus = info[2].ToBoolean();
  Napi::Array entries = info[3].As<Napi::Array>();
  std::vector<char> buf(size);
  size_t used = 0;
  uint32_t packed = 0;
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Object o = entries.Get(i).As<Napi::Object>();
    std::string name = o.Get("name").As<Napi::String>().Utf8Value();
    off_t off = off_t(num(o, "off"));
    size_t len;
    if (plus) {
      fuse_entry_param e;
      Napi::Value entry = o.Get("entry");
      if (entry.IsObject()) {
        fillEntry(e, entry.As<Napi::Object>());
      } else {
        memset(&e, 0, sizeof e);
        e.attr.st_ino = ino_t(num(o, "ino"));
        e.attr.st_mode = mode_t(num(o, "mode"));
      }
      len = fuse_add_direntry_plus(req, buf.data() + used, size - used, name.c_str(), &e, off);
    } else {
      struct stat st;
      memset(&st, 0, sizeof st);
      st.st_ino = ino_t(num(o, "ino"));
      st.st_mode = mode_t(num(o, "mode"));
      len = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st, off);
    }
    if (len > size - used) break;
    used += len;
    packed++;
  }
  fuse_reply_buf(req, buf.data(), used);
  return Napi::Number::New(env, packed);
}

void loopMain(Session* s) {
  int rc = fuse_session_loop(s->se);
  Call* c = newCall(OP_EXIT, nullptr);
  c->exitCode = rc;
  if (s->tsfn.NonBlockingCall(c, callJs) != napi_ok) delete c;
}

// mount(mountpoint, options: string[], handler(op, req, args)) → fd of /dev/fuse
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (session != nullptr) {
    Napi::Error::New(env, "a FUSE session is already active in this process").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string mountpoint = info[0].As<Napi::String>().Utf8Value();
  Napi::Array options = info[1].As<Napi::Array>();
  Napi::Function handler = info[2].As<Napi::Function>();

  std::vector<std::string> argvStore;
  argvStore.push_back("spindle");
  for (uint32_t i = 0; i < options.Length(); i++) argvStore.push_back(options.Get(i).As<Napi::String>().Utf8Value());
  std::vector<char*> argv;
  for (auto& a : argvStore) argv.push_back(const_cast<char*>(a.c_str()));
  fuse_args args = FUSE_ARGS_INIT(int(argv.size()), argv.data());

  static fuse_lowlevel_ops ops;
  memset(&ops, 0, sizeof ops);
  ops.init = onInit;
  ops.lookup = onLookup;
  ops.forget = onForget;
  ops.forget_multi = onForgetMulti;
  ops.getattr = onGetattr;
  ops.setattr = onSetattr;
  ops.readlink = onReadlink;
  ops.mknod = onMknod;
  ops.mkdir = onMkdir;
  ops.unlink = onUnlink;
  ops.rmdir = onRmdir;
  ops.symlink = onSymlink;
  ops.rename = onRename;
  ops.link = onLink;
  ops.open = onOpen;
  ops.read = onRead;
  ops.write = onWrite;
  ops.flush = onFlush;
  ops.release = onRelease;
  ops.fsync = onFsync;
  ops.opendir = onOpendir;
  ops.readdir = onReaddir;
  ops.readdirplus = onReaddirplus;
  ops.releasedir = onReleasedir;
  ops.fsyncdir = onFsyncdir;
  ops.statfs = onStatfs;
  ops.create = onCreate;
  ops.setxattr = onSetxattr;
  ops.getxattr = onGetxattr;
  ops.listxattr = onListxattr;
  ops.removexattr = onRemovexattr;
  ops.getlk = onGetlk;
  ops.setlk = onSetlk;
  ops.flock = onFlock;

  Session* s = new Session();
  s->se = fuse_session_new(&args, &ops, sizeof ops, nullptr);
  fuse_opt_free_args(&args);
  if (s->se == nullptr) {
    delete s;
    Napi::Error::New(env, "fuse_session_new failed (bad mount options?)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (fuse_session_mount(s->se, mountpoint.c_str()) != 0) {
    fuse_session_destroy(s->se);
    delete s;
    Napi::Error e = Napi::Error::New(env, "fuse_session_mount failed for " + mountpoint +
                                              " (is /dev/fuse usable and the directory empty and not mounted?)");
    e.Set("code", Napi::String::New(env, "EMOUNT"));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  s->mounted = true;
  s->tsfn = Napi::ThreadSafeFunction::New(env, handler, "spindle-fuse", 0, 1);
  session = s;
  repliesEnabled.store(true);
  s->thread = std::thread(loopMain, s);
  return Napi::Number::New(env, fuse_session_fd(s->se));
}

// unmount(): asks the loop to stop and detaches the mount; non-blocking. Idempotent.
Napi::Value Unmount(const Napi::CallbackInfo& info) {
  Session* s = session;
  if (s != nullptr && s->mounted) {
    s->mounted = false;
    fuse_session_exit(s->se);
    fuse_session_unmount(s->se);
  }
  return info.Env().Undefined();
}

// destroy(): after the loop thread reported its exit: joins it and frees the session.
Napi::Value Destroy(const Napi::CallbackInfo& info) {
  Session* s = session;
  if (s == nullptr) return info.Env().Undefined();
  if (s->mounted) {
    s->mounted = false;
    fuse_session_exit(s->se);
    fuse_session_unmount(s->se);
  }
  repliesEnabled.store(false);
  if (s->thread.joinable()) s->thread.join();
  // The session is unmounted, so invalidations in progress fail fast; wait for them (bounded).
  for (int i = 0; i < 200 && invalidating.load() > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  fuse_session_destroy(s->se);
  s->tsfn.Release();
  session = nullptr;
  delete s;
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("unmount", Napi::Function::New(env, Unmount));
  exports.Set("destroy", Napi::Function::New(env, Destroy));
  exports.Set("replyErr", Napi::Function::New(env, ReplyErr));
  exports.Set("replyEntry", Napi::Function::New(env, ReplyEntry));
  exports.Set("replyCreate", Napi::Function::New(env, ReplyCreate));
  exports.Set("replyAttr", Napi::Function::New(env, ReplyAttr));
  exports.Set("replyReadlink", Napi::Function::New(env, ReplyReadlink));
  exports.Set("replyOpen", Napi::Function::New(env, ReplyOpen));
  exports.Set("replyWrite", Napi::Function::New(env, ReplyWrite));
  exports.Set("replyXattrSize", Napi::Function::New(env, ReplyXattrSize));
  exports.Set("replyLock", Napi::Function::New(env, ReplyLock));
  exports.Set("interrupted", Napi::Function::New(env, Interrupted));
  exports.Set("invalidateInode", Napi::Function::New(env, InvalidateInode));
  exports.Set("replyBuf", Napi::Function::New(env, ReplyBuf));
  exports.Set("replyStatfs", Napi::Function::New(env, ReplyStatfs));
  exports.Set("replyDir", Napi::Function::New(env, ReplyDir));
  return exports;
}

}  // namespace

NODE_API_MODULE(spindle_fuse, Init)
