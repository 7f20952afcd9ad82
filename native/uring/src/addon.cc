// spindle_uring: block I/O for chunk block files through io_uring (storage/chunk-engine/uring-block-io.ts).
//
// One ring per JS environment (the main thread of a storage node: one per process), created by
// setup(). JavaScript queues reads, writes and fdatasyncs on file descriptors it opened itself
// (node:fs, with or without O_DIRECT); each returns a Promise. Queued operations are handed to the
// kernel together by flush() (the JS side calls it once per microtask batch), so a burst of
// requests costs one io_uring_enter. Completions are announced on an eventfd registered with the
// ring; a uv_poll on that eventfd runs on the JS thread's event loop, drains every completion and
// settles the promises inside a callback scope (so their continuations run right after). No
// extra thread, no locks: everything touching the ring runs on the JS thread.
//
// Guarantees:
// - Bad input never crashes the process: the fd (fcntl), the buffer (a TypedArray), the position
//   (a non-negative safe integer) and the length are checked before anything is queued, and for
//   an O_DIRECT fd the memory address, position and length must be multiples of ALIGN_BYTES;
//   otherwise the call throws an Error with a POSIX `code` (EBADF, EINVAL, EBUSY) and queues
//   nothing.
// - Short transfers are continued: a write is resubmitted for its remainder until done (zero
//   progress fails with EIO); a read until the remainder is read or end of file (a read returning
//   0, or a short O_DIRECT read that ends unaligned: the file's end). EINTR/EAGAIN are retried.
//   Kernel errors reject with an Error carrying `code` (e.g. 'EIO'), `errno` (negative, as in
//   Node) and `syscall`.
// - The buffer of an operation is kept alive (a reference) until its completion.
// - Memory for O_DIRECT comes from allocAligned(): posix_memalign'd memory wrapped as an external
//   ArrayBuffer that the GC frees (reported to V8 as external memory).
// - While operations are in flight the poll handle keeps the event loop alive; otherwise it does not.
#include <napi.h>
#include <liburing.h>
#include <uv.h>

#include <cerrno>
#include <mutex>
#include <unordered_map>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/eventfd.h>
#include <unistd.h>

namespace {

constexpr uint32_t ALIGN_BYTES = 4096;
/** Largest single read or write (an io_uring length is 32-bit, a result is a signed 32-bit count). */
constexpr uint32_t IO_SIZE_MAX_BYTES = 1u << 30;
constexpr unsigned RING_ENTRIES_DEFAULT = 128;
constexpr unsigned RING_ENTRIES_MAX = 4096;
constexpr double POSITION_MAX = 9007199254740991.0;  // 2^53 - 1
/** How long an ending environment waits for its operations in flight (each wait; disk latency). */
constexpr long EXIT_DRAIN_TIMEOUT_S = 5;

enum Kind { KIND_READ = 1, KIND_WRITE = 2, KIND_DATASYNC = 3 };

struct State;

struct Op {
  State* state;
  Kind kind;
  int fd;
  bool direct;
  uint8_t* data;
  uint32_t length;
  uint32_t done;
  int64_t position;
  napi_deferred deferred;
  napi_ref keep;  // the buffer (nullptr for datasync)
  void* pinned;   // the allocAligned() memory the kernel writes or reads, kept until the op ends (or nullptr)
};

// Memory from allocAligned() that operations in flight use. At the teardown of an environment (a
// worker thread ending) Node-API runs the ArrayBuffers' finalizers *before* this addon's cleanup
// hook drains the ring, so the kernel could still be reading into memory freeAligned() gave back
// (heap corruption, seen as `malloc(): unsorted double linked list corrupted`). A finalizer that
// finds its memory pinned leaves the free to the last operation that ends on it. Shared by every
// environment of the process (workers are threads), hence the mutex.
struct AlignedBlock {
  size_t length;
  unsigned pins = 0;
  bool freeWhenUnpinned = false;
};
std::mutex alignedBlocksMutex;
std::unordered_map<void*, AlignedBlock> alignedBlocks;

/** Pins `base` if it is allocAligned() memory; returns it, or nullptr when it is not. */
void* pinAligned(void* base) {
  std::lock_guard<std::mutex> lock(alignedBlocksMutex);
  auto it = alignedBlocks.find(base);
  if (it == alignedBlocks.end()) return nullptr;
  it->second.pins++;
  return base;
}

/** Ends one pin; frees the memory when its finalizer already ran and this was the last pin. */
void unpinAligned(void* base) {
  if (base == nullptr) return;
  std::lock_guard<std::mutex> lock(alignedBlocksMutex);
  auto it = alignedBlocks.find(base);
  if (it == alignedBlocks.end()) return;
  if (--it->second.pins == 0 && it->second.freeWhenUnpinned) {
    alignedBlocks.erase(it);
    std::free(base);
  }
}

struct State {
  napi_env env = nullptr;
  io_uring ring{};
  bool ringReady = false;
  unsigned entries = 0;
  unsigned cqEntries = 0;
  int efd = -1;
  uv_poll_t* poll = nullptr;
  napi_async_context asyncContext = nullptr;
  size_t inflight = 0;  // queued or submitted, not yet settled
  size_t queued = 0;    // SQEs prepared, not yet submitted
  bool referenced = false;
};

const char* syscallName(Kind kind) {
  switch (kind) {
    case KIND_READ:
      return "read";
    case KIND_WRITE:
      return "write";
    default:
      return "fdatasync";
  }
}

napi_value errnoError(napi_env env, int err, const std::string& what, const char* syscall) {
  Napi::Env e(env);
  std::string message = std::string(uv_err_name(-err)) + ": " + strerror(err) + ", " + what;
  Napi::Error error = Napi::Error::New(e, message);
  error.Set("code", Napi::String::New(e, uv_err_name(-err)));
  error.Set("errno", Napi::Number::New(e, -err));
  if (syscall != nullptr) error.Set("syscall", Napi::String::New(e, syscall));
  return error.Value();
}

[[noreturn]] void throwErrno(Napi::Env env, int err, const std::string& what, const char* syscall = nullptr) {
  throw Napi::Error(env, errnoError(env, err, what, syscall));
}

State* stateOf(Napi::Env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<State*>(data);
}

void updateRef(State* s) {
  if (s->poll == nullptr) return;
  bool want = s->inflight > 0;
  if (want == s->referenced) return;
  if (want) {
    uv_ref(reinterpret_cast<uv_handle_t*>(s->poll));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(s->poll));
  }
  s->referenced = want;
}

/** Submits what is queued; returns the number submitted or -errno. */
int submitQueued(State* s) {
  if (s->queued == 0) return 0;
  int r;
  do {
    r = io_uring_submit(&s->ring);
  } while (r == -EINTR);
  if (r >= 0) s->queued -= std::min<size_t>(s->queued, static_cast<size_t>(r));
  return r;
}

/** Prepares the SQE of op (its next part); false when the submission queue stays full. */
bool prepare(State* s, Op* op) {
  io_uring_sqe* sqe = io_uring_get_sqe(&s->ring);
  if (sqe == nullptr) {
    if (submitQueued(s) < 0) return false;
    sqe = io_uring_get_sqe(&s->ring);
    if (sqe == nullptr) return false;
  }
  switch (op->kind) {
    case KIND_READ:
      io_uring_prep_read(sqe, op->fd, op->data + op->done, op->length - op->done, op->position + op->done);
      break;
    case KIND_WRITE:
      io_uring_prep_write(sqe, op->fd, op->data + op->done, op->length - op->done, op->position + op->done);
      break;
    case KIND_DATASYNC:
      io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
      break;
  }
  io_uring_sqe_set_data(sqe, op);
  s->queued++;
  return true;
}

void settle(State* s, Op* op, int err) {
  napi_env env = s->env;
  if (err == 0) {
    napi_value value;
    napi_create_double(env, static_cast<double>(op->done), &value);
    napi_resolve_deferred(env, op->deferred, value);
  } else {
    std::string what = std::string("fd ") + std::to_string(op->fd) + " at " + std::to_string(op->position + op->done);
    napi_reject_deferred(env, op->deferred, errnoError(env, err, what, syscallName(op->kind)));
  }
  if (op->keep != nullptr) napi_delete_reference(env, op->keep);
  s->inflight--;
  unpinAligned(op->pinned);
  delete op;
}

/** Handles one completion; returns true when the op was queued again (a short transfer or EINTR). */
bool complete(State* s, Op* op, int res) {
  if (res == -EINTR || res == -EAGAIN) {
    if (prepare(s, op)) return true;
    settle(s, op, EBUSY);
    return false;
  }
  if (res < 0) {
    settle(s, op, -res);
    return false;
  }
  if (op->kind == KIND_DATASYNC) {
    settle(s, op, 0);
    return false;
  }
  op->done += static_cast<uint32_t>(res);
  if (op->done >= op->length) {
    settle(s, op, 0);
    return false;
  }
  if (op->kind == KIND_WRITE) {
    if (res == 0) {
      settle(s, op, EIO);  // no progress: would loop forever
      return false;
    }
  } else if (res == 0 || (op->direct && (op->done % ALIGN_BYTES) != 0)) {
    settle(s, op, 0);  // end of file
    return false;
  }
  if (op->direct && (op->done % ALIGN_BYTES) != 0) {
    settle(s, op, EIO);  // a short O_DIRECT write that cannot be continued aligned
    return false;
  }
  if (prepare(s, op)) return true;
  settle(s, op, EBUSY);
  return false;
}

void onPoll(uv_poll_t* handle, int status, int events) {
  State* s = static_cast<State*>(handle->data);
  uint64_t count;
  while (read(s->efd, &count, sizeof count) < 0 && errno == EINTR) {
  }
  napi_env env = s->env;
  napi_handle_scope handleScope;
  if (napi_open_handle_scope(env, &handleScope) != napi_ok) return;
  napi_value resource;
  napi_create_object(env, &resource);
  napi_callback_scope callbackScope;
  bool scoped = napi_open_callback_scope(env, resource, s->asyncContext, &callbackScope) == napi_ok;
  bool requeued = false;
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_peek_cqe(&s->ring, &cqe) != 0 || cqe == nullptr) break;
    Op* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
    int res = cqe->res;
    io_uring_cqe_seen(&s->ring, cqe);
    if (op != nullptr) requeued = complete(s, op, res) || requeued;
  }
  if (requeued) submitQueued(s);
  updateRef(s);
  if (scoped) napi_close_callback_scope(env, callbackScope);
  napi_close_handle_scope(env, handleScope);
}

void closeRing(State* s) {
  if (s->poll != nullptr) {
    uv_poll_stop(s->poll);
    // No close callback, and the handle's memory is never freed: this runs at environment teardown,
    // and in a worker thread Node unloads this addon before the worker's loop finishes closing
    // handles, so a callback here would be code that is no longer mapped (a segfault at every
    // worker exit with a ring). One uv_poll_t per ended environment is the price.
    uv_close(reinterpret_cast<uv_handle_t*>(s->poll), nullptr);
    s->poll = nullptr;
  }
  if (s->ringReady) {
    // The environment is going away (a worker ends) and V8 will free the buffers of operations
    // still in flight: wait (bounded) until the kernel is done with them before closing the ring.
    // Their promises and buffer references go with the environment.
    submitQueued(s);
    __kernel_timespec timeout{};
    timeout.tv_sec = EXIT_DRAIN_TIMEOUT_S;
    while (s->inflight > 0) {
      io_uring_cqe* cqe = nullptr;
      int r = io_uring_wait_cqe_timeout(&s->ring, &cqe, &timeout);
      if (r == -EINTR) continue;
      if (r < 0 || cqe == nullptr) break;
      Op* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
      unpinAligned(op->pinned);
      delete op;
      io_uring_cqe_seen(&s->ring, cqe);
      s->inflight--;
    }
    io_uring_queue_exit(&s->ring);
    s->ringReady = false;
  }
  if (s->efd >= 0) {
    close(s->efd);
    s->efd = -1;
  }
}

void cleanup(void* arg) {
  State* s = static_cast<State*>(arg);
  closeRing(s);
  // The async context is not destroyed here: the environment is going away with it. Neither are
  // the promises and buffer references of operations still in flight.
  delete s;
}

Napi::Object ringInfo(Napi::Env env, State* s) {
  Napi::Object info = Napi::Object::New(env);
  info.Set("entries", s->entries);
  info.Set("cqEntries", s->cqEntries);
  info.Set("features", s->ring.features);
  info.Set("inflight", static_cast<double>(s->inflight));
  info.Set("queued", static_cast<double>(s->queued));
  return info;
}

/** setup(entries?): creates this environment's ring (idempotent); returns its info. */
Napi::Value Setup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* s = stateOf(env);
  if (s->ringReady) return ringInfo(env, s);
  unsigned entries = RING_ENTRIES_DEFAULT;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "setup: entries must be a number");
    double n = info[0].As<Napi::Number>().DoubleValue();
    if (!(n >= 1 && n <= RING_ENTRIES_MAX) || n != static_cast<double>(static_cast<unsigned>(n))) {
      throw Napi::RangeError::New(env,
                                  "setup: entries must be an integer from 1 to " + std::to_string(RING_ENTRIES_MAX));
    }
    entries = static_cast<unsigned>(n);
  }
  io_uring_params params{};
  int r = io_uring_queue_init_params(entries, &s->ring, &params);
  if (r < 0) throwErrno(env, -r, "io_uring_setup", "io_uring_setup");
  s->ringReady = true;
  s->entries = params.sq_entries;
  s->cqEntries = params.cq_entries;
  s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->efd < 0) {
    int err = errno;
    closeRing(s);
    throwErrno(env, err, "eventfd", "eventfd");
  }
  r = io_uring_register_eventfd(&s->ring, s->efd);
  if (r < 0) {
    closeRing(s);
    throwErrno(env, -r, "io_uring_register_eventfd", "io_uring_register");
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    closeRing(s);
    throw Napi::Error::New(env, "setup: no event loop");
  }
  s->poll = new uv_poll_t;
  s->poll->data = s;
  if (uv_poll_init(loop, s->poll, s->efd) != 0 || uv_poll_start(s->poll, UV_READABLE, onPoll) != 0) {
    delete s->poll;
    s->poll = nullptr;
    closeRing(s);
    throw Napi::Error::New(env, "setup: cannot poll the ring's eventfd");
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(s->poll));
  s->referenced = false;
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "spindle:uring", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &s->asyncContext);
  return ringInfo(env, s);
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  State* s = stateOf(info.Env());
  if (!s->ringReady) return info.Env().Null();
  return ringInfo(info.Env(), s);
}

State* readyState(Napi::Env env) {
  State* s = stateOf(env);
  if (!s->ringReady) throw Napi::Error::New(env, "spindle_uring: setup() was not called");
  return s;
}

/** The fd argument: an open descriptor (EBADF otherwise); returns its status flags. */
int checkFd(Napi::Env env, const Napi::Value& value, int* fdOut) {
  if (!value.IsNumber()) throw Napi::TypeError::New(env, "fd must be a number");
  double n = value.As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= 2147483647) || n != static_cast<double>(static_cast<int>(n))) {
    throwErrno(env, EBADF, "fd " + Napi::Value(value).ToString().Utf8Value() + " is not a file descriptor");
  }
  int fd = static_cast<int>(n);
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) throwErrno(env, errno, "fd " + std::to_string(fd), "fcntl");
  *fdOut = fd;
  return flags;
}

void* alignedAlloc(size_t length) {
  void* p = nullptr;
  size_t padded = ((length + ALIGN_BYTES - 1) / ALIGN_BYTES) * ALIGN_BYTES;
  if (padded == 0) padded = ALIGN_BYTES;
  if (posix_memalign(&p, ALIGN_BYTES, padded) != 0) return nullptr;
  return p;
}

/** read(fd, view, position) / write(fd, view, position): a Promise of the bytes transferred. */
Napi::Value Transfer(const Napi::CallbackInfo& info, Kind kind) {
  Napi::Env env = info.Env();
  State* s = readyState(env);
  int fd;
  int flags = checkFd(env, info[0], &fd);
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "buffer must be a Buffer or TypedArray");
  Napi::TypedArray view = info[1].As<Napi::TypedArray>();
  Napi::ArrayBuffer backing = view.ArrayBuffer();
  uint8_t* data = static_cast<uint8_t*>(backing.Data()) + view.ByteOffset();
  size_t length = view.ByteLength();
  if (length > IO_SIZE_MAX_BYTES) throwErrno(env, EINVAL, "length " + std::to_string(length) + " exceeds 1 GiB");
  if (!info[2].IsNumber()) throw Napi::TypeError::New(env, "position must be a number");
  double position = info[2].As<Napi::Number>().DoubleValue();
  if (!(position >= 0 && position <= POSITION_MAX) || position != static_cast<double>(static_cast<int64_t>(position))) {
    throwErrno(env, EINVAL, "position must be a non-negative safe integer");
  }
  bool direct = (flags & O_DIRECT) != 0;
  if (direct) {
    uintptr_t address = reinterpret_cast<uintptr_t>(data);
    if (static_cast<int64_t>(position) % ALIGN_BYTES != 0 || length % ALIGN_BYTES != 0 || address % ALIGN_BYTES != 0) {
      throwErrno(env, EINVAL,
                 "O_DIRECT needs position, length and memory aligned to " + std::to_string(ALIGN_BYTES) +
                     " bytes (position " + std::to_string(static_cast<int64_t>(position)) + ", length " +
                     std::to_string(length) + ", address % " + std::to_string(ALIGN_BYTES) + " = " +
                     std::to_string(address % ALIGN_BYTES) + ")");
    }
  }
  int accessMode = flags & O_ACCMODE;
  if ((kind == KIND_READ && accessMode == O_WRONLY) || (kind == KIND_WRITE && accessMode == O_RDONLY)) {
    throwErrno(env, EBADF,
               "fd " + std::to_string(fd) + " is not open for " + (kind == KIND_READ ? "reading" : "writing"));
  }
  if (s->inflight >= s->cqEntries) throwErrno(env, EBUSY, "too many io_uring operations in flight");
  napi_deferred deferred;
  napi_value promise;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) throw Napi::Error::New(env, "cannot create a promise");
  if (length == 0) {
    napi_value zero;
    napi_create_double(env, 0, &zero);
    napi_resolve_deferred(env, deferred, zero);
    return Napi::Value(env, promise);
  }
  Op* op = new Op{s,        kind,    fd, direct, data, static_cast<uint32_t>(length), 0, static_cast<int64_t>(position),
                  deferred, nullptr, pinAligned(backing.Data())};
  napi_create_reference(env, info[1], 1, &op->keep);
  s->inflight++;
  if (!prepare(s, op)) {
    settle(s, op, EBUSY);
  }
  updateRef(s);
  return Napi::Value(env, promise);
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  return Transfer(info, KIND_READ);
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  return Transfer(info, KIND_WRITE);
}

/** datasync(fd): a Promise resolved when fdatasync of fd is done. */
Napi::Value Datasync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* s = readyState(env);
  int fd;
  checkFd(env, info[0], &fd);
  if (s->inflight >= s->cqEntries) throwErrno(env, EBUSY, "too many io_uring operations in flight");
  napi_deferred deferred;
  napi_value promise;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) throw Napi::Error::New(env, "cannot create a promise");
  Op* op = new Op{s, KIND_DATASYNC, fd, false, nullptr, 0, 0, 0, deferred, nullptr, nullptr};
  s->inflight++;
  if (!prepare(s, op)) settle(s, op, EBUSY);
  updateRef(s);
  return Napi::Value(env, promise);
}

/** flush(): submits every queued operation with one io_uring_enter; returns how many. */
Napi::Value Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* s = readyState(env);
  int r = submitQueued(s);
  if (r < 0) throwErrno(env, -r, "io_uring_enter", "io_uring_enter");
  return Napi::Number::New(env, r);
}

void freeAligned(Napi::Env env, void* data, size_t* length) {
  {
    std::lock_guard<std::mutex> lock(alignedBlocksMutex);
    auto it = alignedBlocks.find(data);
    if (it != alignedBlocks.end() && it->second.pins > 0) {
      it->second.freeWhenUnpinned = true;  // the last operation on it frees it (unpinAligned)
    } else {
      if (it != alignedBlocks.end()) alignedBlocks.erase(it);
      std::free(data);
    }
  }
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(*length));
  delete length;
}

/** allocAligned(length): an ArrayBuffer whose memory is ALIGN_BYTES-aligned (contents undefined). */
Napi::Value AllocAligned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "length must be a number");
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= IO_SIZE_MAX_BYTES) || n != static_cast<double>(static_cast<size_t>(n))) {
    throw Napi::RangeError::New(env, "length must be an integer from 0 to 1 GiB");
  }
  size_t length = static_cast<size_t>(n);
  void* data = alignedAlloc(length);
  if (data == nullptr) throwErrno(env, ENOMEM, "posix_memalign");
  {
    std::lock_guard<std::mutex> lock(alignedBlocksMutex);
    alignedBlocks[data] = AlignedBlock{length};
  }
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(length));
  return Napi::ArrayBuffer::New(env, data, length, freeAligned, new size_t(length));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  State* s = new State();
  s->env = env;
  // No finalizer: the cleanup hook closes the ring and deletes the state at env teardown.
  napi_set_instance_data(env, s, nullptr, nullptr);
  napi_add_env_cleanup_hook(env, cleanup, s);
  exports.Set("setup", Napi::Function::New(env, Setup, "setup"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("read", Napi::Function::New(env, Read, "read"));
  exports.Set("write", Napi::Function::New(env, Write, "write"));
  exports.Set("datasync", Napi::Function::New(env, Datasync, "datasync"));
  exports.Set("flush", Napi::Function::New(env, Flush, "flush"));
  exports.Set("allocAligned", Napi::Function::New(env, AllocAligned, "allocAligned"));
  exports.Set("ALIGN_BYTES", Napi::Number::New(env, ALIGN_BYTES));
  exports.Set("IO_SIZE_MAX_BYTES", Napi::Number::New(env, IO_SIZE_MAX_BYTES));
  return exports;
}

}  // namespace

NODE_API_MODULE(spindle_uring, Init)
