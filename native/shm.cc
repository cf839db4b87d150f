// wicket_shm: a named POSIX shared-memory object (shm_open + mmap) exposed to
// JavaScript as a real SharedArrayBuffer, so Atomics on it are hardware
// atomics on memory every process of the gateway maps.
//
//   create(name, bytes) -> SharedArrayBuffer   new object (O_EXCL), zero-filled
//   attach(name)        -> SharedArrayBuffer   existing object, its whole size
//   unlink(name)        -> boolean             false when it did not exist
//
// The mapping is unmapped by the backing store's deleter when V8 collects the
// last SharedArrayBuffer over it. Errors throw with the errno name in `code`.
#include <node.h>
#include <v8.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using v8::ArrayBuffer;
using v8::BackingStore;
using v8::Context;
using v8::Exception;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;

const char* ErrnoName(int e) {
  switch (e) {
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case ENOSPC: return "ENOSPC";
    case EMFILE: return "EMFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EFBIG: return "EFBIG";
    case EINTR: return "EINTR";
    case ENODEV: return "ENODEV";
    default: return "EIO";
  }
}

void Throw(Isolate* isolate, const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  Local<Value> ex = Exception::Error(String::NewFromUtf8(isolate, msg.c_str()).ToLocalChecked());
  Local<Context> ctx = isolate->GetCurrentContext();
  ex.As<Object>()->Set(ctx, String::NewFromUtf8Literal(isolate, "code"),
                       String::NewFromUtf8(isolate, ErrnoName(err)).ToLocalChecked()).Check();
  ex.As<Object>()->Set(ctx, String::NewFromUtf8Literal(isolate, "errno"), v8::Integer::New(isolate, err)).Check();
  isolate->ThrowException(ex);
}

bool NameArg(const FunctionCallbackInfo<Value>& args, std::string* out) {
  Isolate* isolate = args.GetIsolate();
  if (args.Length() < 1 || !args[0]->IsString()) {
    isolate->ThrowException(Exception::TypeError(String::NewFromUtf8Literal(isolate, "name must be a string")));
    return false;
  }
  String::Utf8Value s(isolate, args[0]);
  *out = *s;
  // POSIX: one leading slash, no other slash.
  if (out->size() < 2 || (*out)[0] != '/' || out->find('/', 1) != std::string::npos || out->size() > 250) {
    isolate->ThrowException(Exception::TypeError(String::NewFromUtf8Literal(isolate, "name must look like /name (no other slash, at most 250 bytes)")));
    return false;
  }
  return true;
}

void Unmap(void* data, size_t length, void*) {
  if (data != nullptr && length > 0) munmap(data, length);
}

// Maps `fd` (length bytes) and hands it to V8 as a SharedArrayBuffer. A
// failed mapping of an object we just created removes it again.
void Wrap(const FunctionCallbackInfo<Value>& args, int fd, size_t length, const std::string& name, bool created) {
  Isolate* isolate = args.GetIsolate();
  void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) {
    if (created) shm_unlink(name.c_str());
    return Throw(isolate, "mmap " + name, err);
  }
  std::unique_ptr<BackingStore> store = SharedArrayBuffer::NewBackingStore(p, length, Unmap, nullptr);
  args.GetReturnValue().Set(SharedArrayBuffer::New(isolate, std::move(store)));
}

void Create(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  std::string name;
  if (!NameArg(args, &name)) return;
  if (args.Length() < 2 || !args[1]->IsNumber()) {
    isolate->ThrowException(Exception::TypeError(String::NewFromUtf8Literal(isolate, "bytes must be a number")));
    return;
  }
  double bytes = args[1].As<v8::Number>()->Value();
  if (!(bytes >= 64 && bytes <= 4294967296.0)) {
    isolate->ThrowException(Exception::RangeError(String::NewFromUtf8Literal(isolate, "bytes must be between 64 and 4 GiB")));
    return;
  }
  size_t length = static_cast<size_t>(bytes);
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return Throw(isolate, "shm_open " + name, errno);
  if (ftruncate(fd, static_cast<off_t>(length)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    return Throw(isolate, "ftruncate " + name, err);
  }
  // tmpfs reserves nothing on ftruncate: without this, a full /dev/shm would
  // show up later as SIGBUS in whichever worker first touches a page.
  int rc = posix_fallocate(fd, 0, static_cast<off_t>(length));
  if (rc != 0) {
    close(fd);
    shm_unlink(name.c_str());
    return Throw(isolate, "posix_fallocate " + name + " (is /dev/shm big enough?)", rc);
  }
  Wrap(args, fd, length, name, true);
}

void Attach(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  std::string name;
  if (!NameArg(args, &name)) return;
  int fd = shm_open(name.c_str(), O_RDWR, 0600);
  if (fd < 0) return Throw(isolate, "shm_open " + name, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return Throw(isolate, "fstat " + name, err);
  }
  if (st.st_size < 64) {
    close(fd);
    return Throw(isolate, "attach " + name + " (object too small)", EINVAL);
  }
  Wrap(args, fd, static_cast<size_t>(st.st_size), name, false);
}

void Unlink(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  std::string name;
  if (!NameArg(args, &name)) return;
  if (shm_unlink(name.c_str()) == 0) return args.GetReturnValue().Set(true);
  if (errno == ENOENT) return args.GetReturnValue().Set(false);
  Throw(isolate, "shm_unlink " + name, errno);
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  Isolate* isolate = context->GetIsolate();
  auto set = [&](const char* key, v8::FunctionCallback fn) {
    exports->Set(context, String::NewFromUtf8(isolate, key).ToLocalChecked(),
                 v8::FunctionTemplate::New(isolate, fn)->GetFunction(context).ToLocalChecked()).Check();
  };
  set("create", Create);
  set("attach", Attach);
  set("unlink", Unlink);
}
