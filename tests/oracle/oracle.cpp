#include "oracle/oracle.h"

#include "imatrix/imatrix.h"

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace apex::oracle {
namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "oracle: %s\n", what.c_str());
  std::abort();
}

struct Libs {
  void* ggml_base = nullptr;
  void* ggml = nullptr;
  void* llama = nullptr;
};

void* open_lib(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (h == nullptr) die("cannot load " + path + ": " + dlerror());
  return h;
}

void* sym(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  if (p == nullptr) die(std::string("missing symbol ") + name);
  return p;
}

// While set, every log line of ggml and llama.cpp is appended here (tests
// read llama.cpp's decisions from its log). Tests run single-threaded.
std::string* g_log_capture = nullptr;

void quiet_log(int level, const char* text, void*) {
  if (g_log_capture != nullptr) g_log_capture->append(text);
  if (std::getenv("APEX_ORACLE_VERBOSE") != nullptr) std::fputs(text, stderr);
}

Libs& base_libs() {
  static Libs libs;
  static std::once_flag once;
  std::call_once(once, [] {
    setenv("GGML_NO_BACKTRACE", "1", 1);
    libs.ggml_base = open_lib(library_dir() + "/libggml-base.so");
    using LogSet = void (*)(void (*)(int, const char*, void*), void*);
    reinterpret_cast<LogSet>(sym(libs.ggml_base, "ggml_log_set"))(quiet_log, nullptr);
  });
  return libs;
}

Libs& llama_libs() {
  Libs& libs = base_libs();
  static std::once_flag once;
  std::call_once(once, [&] {
    const std::string dir = library_dir();
    libs.ggml = open_lib(dir + "/libggml.v0.5.0.so");
    libs.llama = open_lib(dir + "/libllama.v0.5.0.so");
    using LogSet = void (*)(void (*)(int, const char*, void*), void*);
    reinterpret_cast<LogSet>(sym(libs.llama, "llama_log_set"))(quiet_log, nullptr);
    reinterpret_cast<LogSet>(sym(libs.ggml_base, "ggml_log_set"))(quiet_log, nullptr);
    // Pin one CPU variant so logits are reproducible across machines: only
    // libggml-cpu-x64.so (plain x86-64: no FMA, no F16C, no tinyBLAS tiles)
    // is registered, or the library GGML_BACKEND_PATH names.
    // ggml_backend_load_all_from_path would register the best variant for
    // this CPU first (zen4, skylakex, ...) and llama.cpp would compute on it,
    // whatever GGML_BACKEND_PATH says. APEX_ORACLE_CPU=best restores that
    // (benchmarks want the oracle at its fastest).
    const char* variant = std::getenv("APEX_ORACLE_CPU");
    if (variant != nullptr && std::string(variant) == "best") {
      reinterpret_cast<void (*)(const char*)>(sym(libs.ggml, "ggml_backend_load_all_from_path"))(
          dir.c_str());
    } else {
      const char* path = std::getenv("GGML_BACKEND_PATH");
      const std::string cpu = path != nullptr ? path : dir + "/libggml-cpu-x64.so";
      if (reinterpret_cast<void* (*)(const char*)>(sym(libs.ggml, "ggml_backend_load"))(
              cpu.c_str()) == nullptr) {
        die("cannot load the CPU backend " + cpu);
      }
    }
    reinterpret_cast<void (*)()>(sym(libs.llama, "llama_backend_init"))();
  });
  return libs;
}

template <typename Fn>
Fn base_fn(const char* name) {
  return reinterpret_cast<Fn>(sym(base_libs().ggml_base, name));
}
template <typename Fn>
Fn llama_fn(const char* name) {
  return reinterpret_cast<Fn>(sym(llama_libs().llama, name));
}

// Opaque by-value parameter blocks: we only touch the fields named below, at
// offsets taken from this build's include/llama.h.
struct ModelParams {
  alignas(8) unsigned char bytes[80];
};
struct ContextParams {
  alignas(8) unsigned char bytes[160];
};
struct Batch {  // llama_batch, 56 bytes
  int32_t n_tokens;
  int32_t* token;
  float* embd;
  int32_t* pos;
  int32_t* n_seq_id;
  int32_t** seq_id;
  int8_t* logits;
};
static_assert(sizeof(Batch) == 56);

constexpr size_t kCtxNCtx = 0, kCtxNBatch = 4, kCtxNUbatch = 8, kCtxNThreads = 28,
                 kCtxNThreadsBatch = 32, kCtxFlashAttn = 52;

void put_i32(unsigned char* base, size_t off, int32_t v) { std::memcpy(base + off, &v, 4); }

}  // namespace

std::string library_dir() {
  if (const char* env = std::getenv("APEX_ORACLE_DIR")) return env;
#ifdef APEX_ORACLE_DIR
  return APEX_ORACLE_DIR;
#else
  return "third_party/oracle/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64";
#endif
}

bool available() { return std::filesystem::exists(library_dir() + "/libggml-base.so"); }

size_t quantize_chunk(int type, const float* src, void* dst, int64_t start, int64_t nrows,
                      int64_t n_per_row, const float* imatrix) {
  using Fn = size_t (*)(int, const float*, void*, int64_t, int64_t, int64_t, const float*);
  static Fn fn = base_fn<Fn>("ggml_quantize_chunk");
  return fn(type, src, dst, start, nrows, n_per_row, imatrix);
}

std::optional<std::vector<uint8_t>> quantize_chunk_isolated(int type, const float* src, int64_t nrows,
                                                            int64_t n_per_row, const float* imatrix,
                                                            size_t nbytes) {
  int pipe_fd[2];
  if (pipe(pipe_fd) != 0) return std::nullopt;
  std::fflush(nullptr);  // or the child's exit path may print our buffered output again
  const pid_t child = fork();
  if (child < 0) {
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    return std::nullopt;
  }
  if (child == 0) {
    close(pipe_fd[0]);
    // ggml's abort message would clutter the test log; the parent reports aborts.
    if (std::freopen("/dev/null", "w", stderr) == nullptr) _exit(4);
    std::vector<uint8_t> out(nbytes);
    if (quantize_chunk(type, src, out.data(), 0, nrows, n_per_row, imatrix) != nbytes) _exit(2);
    for (size_t done = 0; done < nbytes;) {
      const ssize_t w = write(pipe_fd[1], out.data() + done, nbytes - done);
      if (w <= 0) _exit(3);
      done += static_cast<size_t>(w);
    }
    _exit(0);
  }
  close(pipe_fd[1]);
  std::vector<uint8_t> got;
  got.reserve(nbytes);
  uint8_t chunk[8192];
  for (ssize_t r; (r = read(pipe_fd[0], chunk, sizeof(chunk))) > 0;) got.insert(got.end(), chunk, chunk + r);
  close(pipe_fd[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got.size() != nbytes) return std::nullopt;
  return got;
}

const GgmlTypeTraits* type_traits(int type) {
  using Fn = const GgmlTypeTraits* (*)(int);
  static Fn fn = base_fn<Fn>("ggml_get_type_traits");
  return fn(type);
}

bool quantize_requires_imatrix(int type) {
  using Fn = bool (*)(int);
  static Fn fn = base_fn<Fn>("ggml_quantize_requires_imatrix");
  return fn(type);
}

void to_float(int type, const void* src, float* dst, int64_t n) {
  // ggml has no to_float for F32 (data already is float; its readers copy).
  if (type == 0) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const GgmlTypeTraits* t = type_traits(type);
  if (t->to_float == nullptr) die("no to_float for type " + std::to_string(type));
  t->to_float(src, dst, n);
}

bool validate_row_data(int type, const void* data, size_t nbytes) {
  using Fn = bool (*)(int, const void*, size_t);
  static Fn fn = base_fn<Fn>("ggml_validate_row_data");
  return fn(type, data, nbytes);
}

void* gguf_api(const char* symbol) { return sym(base_libs().ggml_base, symbol); }

bool ImatrixParams::load(const std::string& path_as_given) {
  auto loaded = imatrix::load(path_as_given);
  if (!loaded.ok()) return false;
  names_.clear();
  values_.clear();
  for (const auto& e : loaded->entries) {
    names_.push_back(e.name);
    values_.push_back(e.values);
  }
  entries_.clear();
  for (size_t i = 0; i < names_.size(); ++i)
    entries_.push_back({names_[i].c_str(), values_[i].data(), values_[i].size()});
  entries_.push_back({nullptr, nullptr, 0});
  kvs_.clear();
  for (const auto& kv : imatrix::quantize_metadata(*loaded, path_as_given)) {
    KvOverride o{};
    std::strncpy(o.key, kv.key.c_str(), sizeof(o.key) - 1);
    if (const auto* str = kv.value.get_if<std::string>()) {
      o.tag = 3;
      std::strncpy(o.val_str, str->c_str(), sizeof(o.val_str) - 1);
    } else {
      int64_t v = 0;
      if (!kv.value.as_int(v)) die("imatrix metadata key " + kv.key + " is neither string nor integer");
      o.tag = 0;
      o.val_i64 = v;
    }
    kvs_.push_back(o);
  }
  kvs_.push_back(KvOverride{});
  return true;
}

void ImatrixParams::apply(QuantizeParams& p) const {
  p.imatrix = entries_.data();
  p.kv_overrides = kvs_.data();
}

QuantizeParams default_quantize_params() {
  using Fn = QuantizeParams (*)();
  return llama_fn<Fn>("llama_model_quantize_default_params")();
}

uint32_t model_quantize(const std::string& in, const std::string& out, const QuantizeParams& p) {
  using Fn = uint32_t (*)(const char*, const char*, const QuantizeParams*);
  static Fn fn = llama_fn<Fn>("llama_model_quantize");
  return fn(in.c_str(), out.c_str(), &p);
}

namespace {
struct LoadedModel {
  void* model = nullptr;
  std::string error;
};

LoadedModel load_model(const std::string& path, bool vocab_only) {
  using DefaultParams = ModelParams (*)();
  using Load = void* (*)(const char*, ModelParams);
  ModelParams mp = llama_fn<DefaultParams>("llama_model_default_params")();
  if (vocab_only) mp.bytes[72] = 1;  // bool vocab_only follows the 9 pointer/int fields
  void* model = llama_fn<Load>("llama_model_load_from_file")(path.c_str(), mp);
  if (model == nullptr) return {nullptr, "llama_model_load_from_file failed for " + path};
  return {model, {}};
}

void free_model(void* model) { llama_fn<void (*)(void*)>("llama_model_free")(model); }
}  // namespace

LogitsResult eval_logits(const std::string& model_path, const std::vector<int32_t>& tokens,
                         int n_threads, int n_ctx) {
  LogitsResult result;
  LoadedModel m = load_model(model_path, false);
  if (m.model == nullptr) {
    result.error = m.error;
    return result;
  }
  const int32_t n = static_cast<int32_t>(tokens.size());
  const int32_t n_batch = 512;
  using DefaultCtx = ContextParams (*)();
  ContextParams cp = llama_fn<DefaultCtx>("llama_context_default_params")();
  put_i32(cp.bytes, kCtxNCtx, n_ctx > 0 ? n_ctx : std::max(n, 16));
  put_i32(cp.bytes, kCtxNBatch, n_batch);
  put_i32(cp.bytes, kCtxNUbatch, n_batch);
  put_i32(cp.bytes, kCtxNThreads, n_threads);
  put_i32(cp.bytes, kCtxNThreadsBatch, n_threads);
  put_i32(cp.bytes, kCtxFlashAttn, 0);  // disabled: flash attention moves logits ~2e-3
  void* ctx = llama_fn<void* (*)(void*, ContextParams)>("llama_init_from_model")(m.model, cp);
  if (ctx == nullptr) {
    free_model(m.model);
    result.error = "llama_init_from_model failed";
    return result;
  }
  const void* vocab = llama_fn<const void* (*)(const void*)>("llama_model_get_vocab")(m.model);
  result.n_vocab = llama_fn<int32_t (*)(const void*)>("llama_vocab_n_tokens")(vocab);
  result.logits.resize(static_cast<size_t>(n) * result.n_vocab);

  auto batch_init = llama_fn<Batch (*)(int32_t, int32_t, int32_t)>("llama_batch_init");
  auto batch_free = llama_fn<void (*)(Batch)>("llama_batch_free");
  auto decode = llama_fn<int32_t (*)(void*, Batch)>("llama_decode");
  auto logits_ith = llama_fn<float* (*)(void*, int32_t)>("llama_get_logits_ith");
  Batch batch = batch_init(n_batch, 0, 1);
  bool ok = true;
  for (int32_t start = 0; start < n && ok; start += n_batch) {
    const int32_t count = std::min(n_batch, n - start);
    batch.n_tokens = count;
    for (int32_t i = 0; i < count; ++i) {
      batch.token[i] = tokens[start + i];
      batch.pos[i] = start + i;
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = 0;
      batch.logits[i] = 1;
    }
    if (decode(ctx, batch) != 0) {
      ok = false;
      result.error = "llama_decode failed";
      break;
    }
    for (int32_t i = 0; i < count; ++i) {
      const float* row = logits_ith(ctx, i);
      std::memcpy(&result.logits[static_cast<size_t>(start + i) * result.n_vocab], row,
                  sizeof(float) * result.n_vocab);
    }
  }
  batch_free(batch);
  llama_fn<void (*)(void*)>("llama_free")(ctx);
  free_model(m.model);
  result.ok = ok;
  return result;
}

SpeedResult measure_speed(const std::string& model_path, int n_prompt, int n_gen, int n_threads) {
  SpeedResult result;
  LoadedModel m = load_model(model_path, false);
  if (m.model == nullptr) {
    result.error = m.error;
    return result;
  }
  const int32_t n_batch = 512;
  using DefaultCtx = ContextParams (*)();
  ContextParams cp = llama_fn<DefaultCtx>("llama_context_default_params")();
  put_i32(cp.bytes, kCtxNCtx, n_prompt + n_gen + 16);
  put_i32(cp.bytes, kCtxNBatch, n_batch);
  put_i32(cp.bytes, kCtxNUbatch, n_batch);
  put_i32(cp.bytes, kCtxNThreads, n_threads);
  put_i32(cp.bytes, kCtxNThreadsBatch, n_threads);
  put_i32(cp.bytes, kCtxFlashAttn, 0);
  void* ctx = llama_fn<void* (*)(void*, ContextParams)>("llama_init_from_model")(m.model, cp);
  if (ctx == nullptr) {
    free_model(m.model);
    result.error = "llama_init_from_model failed";
    return result;
  }
  auto batch_init = llama_fn<Batch (*)(int32_t, int32_t, int32_t)>("llama_batch_init");
  auto batch_free = llama_fn<void (*)(Batch)>("llama_batch_free");
  auto decode = llama_fn<int32_t (*)(void*, Batch)>("llama_decode");
  Batch batch = batch_init(n_batch, 0, 1);
  auto run = [&](int32_t pos, int32_t count) {
    batch.n_tokens = count;
    for (int32_t i = 0; i < count; ++i) {
      batch.token[i] = 1 + (pos + i) * 7 % 200;
      batch.pos[i] = pos + i;
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = 0;
      batch.logits[i] = i == count - 1;
    }
    return decode(ctx, batch) == 0;
  };
  using Clock = std::chrono::steady_clock;
  bool ok = true;
  auto t0 = Clock::now();
  for (int32_t start = 0; start < n_prompt && ok; start += n_batch) ok = run(start, std::min(n_batch, n_prompt - start));
  auto t1 = Clock::now();
  for (int32_t i = 0; i < n_gen && ok; ++i) ok = run(n_prompt + i, 1);
  auto t2 = Clock::now();
  batch_free(batch);
  llama_fn<void (*)(void*)>("llama_free")(ctx);
  free_model(m.model);
  result.ok = ok;
  if (!ok) result.error = "llama_decode failed";
  result.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
  result.gen_seconds = std::chrono::duration<double>(t2 - t1).count();
  return result;
}

bool tokenize(const std::string& model_path, const std::string& text, bool add_special,
              bool parse_special, std::vector<int32_t>& out) {
  LoadedModel m = load_model(model_path, true);
  if (m.model == nullptr) return false;
  const void* vocab = llama_fn<const void* (*)(const void*)>("llama_model_get_vocab")(m.model);
  using Tokenize = int32_t (*)(const void*, const char*, int32_t, int32_t*, int32_t, bool, bool);
  auto tok = llama_fn<Tokenize>("llama_tokenize");
  out.assign(text.size() + 16, 0);
  int32_t n = tok(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                  static_cast<int32_t>(out.size()), add_special, parse_special);
  if (n < 0) {
    out.assign(static_cast<size_t>(-n), 0);
    n = tok(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
            static_cast<int32_t>(out.size()), add_special, parse_special);
  }
  free_model(m.model);
  if (n < 0) return false;
  out.resize(static_cast<size_t>(n));
  return true;
}

// ---- type choice ------------------------------------------------------------

namespace {
struct GgmlInitParams {  // ggml_init_params
  size_t mem_size;
  void* mem_buffer;
  bool no_alloc;
};

void* new_tensor_context(size_t n_tensors) {
  using Init = void* (*)(GgmlInitParams);
  const size_t overhead = base_fn<size_t (*)()>("ggml_tensor_overhead")();
  return base_fn<Init>("ggml_init")({overhead * (n_tensors + 1), nullptr, true});
}

void* new_named_tensor(void* ctx, const TensorSpec& t) {
  using NewTensor = void* (*)(void*, int, int, const int64_t*);
  using SetName = void* (*)(void*, const char*);
  if (t.ne.empty() || t.ne.size() > 4) die("tensor " + t.name + ": 1..4 dims expected");
  if (t.name.size() > 63) die("tensor name too long for ggml: " + t.name);
  void* tensor = base_fn<NewTensor>("ggml_new_tensor")(ctx, t.type, static_cast<int>(t.ne.size()),
                                                        t.ne.data());
  return base_fn<SetName>("ggml_set_name")(tensor, t.name.c_str());
}

// RAII for g_log_capture.
class LogCapture {
 public:
  explicit LogCapture(std::string* sink) { g_log_capture = sink; }
  ~LogCapture() { g_log_capture = nullptr; }
};

// Mangled names of the C++ helpers in llama-ext.h.
constexpr const char* kQuantModelFromMetadata =
    "_Z31llama_quant_model_from_metadataPK22llama_quant_model_desc";
constexpr const char* kQuantInit =
    "_Z16llama_quant_initPK11llama_modelPK27llama_model_quantize_params";
constexpr const char* kQuantFree = "_Z16llama_quant_freeP19quantize_state_impl";
constexpr const char* kQuantAllows =
    "_Z38llama_quant_tensor_allows_quantizationPK19quantize_state_implPK11ggml_tensor";
constexpr const char* kQuantComputeTypes =
    "_Z25llama_quant_compute_typesP19quantize_state_impl11llama_ftypePP11ggml_tensorP9ggml_typem";
}  // namespace

QuantTypeModel::QuantTypeModel(const QuantModelDesc& desc, const std::vector<TensorSpec>& tensors) {
  llama_libs();
  ctx_ = new_tensor_context(tensors.size());
  for (const TensorSpec& t : tensors) tensors_.push_back(new_named_tensor(ctx_, t));
  model_ = llama_fn<void* (*)(const QuantModelDesc*)>(kQuantModelFromMetadata)(&desc);
  if (model_ == nullptr) die(std::string("no mock model for architecture ") + desc.architecture);
}

QuantTypeModel::~QuantTypeModel() {
  if (model_ != nullptr) free_model(model_);
  if (ctx_ != nullptr) base_fn<void (*)(void*)>("ggml_free")(ctx_);
}

TensorTypes QuantTypeModel::compute(const QuantizeParams& params, bool capture_log) const {
  using Init = void* (*)(const void*, const QuantizeParams*);
  using Free = void (*)(void*);
  using Allows = bool (*)(const void*, const void*);
  using Compute = void (*)(void*, int32_t, void* const*, int32_t*, size_t);
  static const Init init = llama_fn<Init>(kQuantInit);
  static const Free free_qs = llama_fn<Free>(kQuantFree);
  static const Allows allows = llama_fn<Allows>(kQuantAllows);
  static const Compute compute_types = llama_fn<Compute>(kQuantComputeTypes);

  TensorTypes out;
  LogCapture capture(capture_log ? &out.log : nullptr);
  void* qs = init(model_, &params);  // keeps &params: must outlive qs
  for (void* t : tensors_) out.allows.push_back(allows(qs, t));
  out.types.assign(tensors_.size(), -1);
  try {
    compute_types(qs, params.ftype, tensors_.data(), out.types.data(), tensors_.size());
    out.ok = true;
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  free_qs(qs);
  return out;
}

int32_t ftype_default_type(int32_t ftype) {
  using Fn = int32_t (*)(int32_t);
  static const Fn fn = llama_fn<Fn>("_Z28llama_ftype_get_default_type11llama_ftype");
  return fn(ftype);
}

int32_t type_id_from_ggml_name(const std::string& name) {
  for (int32_t i = 0; i < 64; ++i) {
    const GgmlTypeTraits* t = type_traits(i);
    if (t == nullptr || t->type_name == nullptr) break;
    if (name == t->type_name) return i;
    if (i == 42) break;  // GGML_TYPE_COUNT - 1 in this build
  }
  return -1;
}

bool write_skeleton_gguf(const std::string& path, const std::vector<MetaKv>& kvs,
                         const std::vector<TensorSpec>& tensors) {
  auto gguf_init_empty = reinterpret_cast<void* (*)()>(gguf_api("gguf_init_empty"));
  auto gguf_free = reinterpret_cast<void (*)(void*)>(gguf_api("gguf_free"));
  auto set_str = reinterpret_cast<void (*)(void*, const char*, const char*)>(
      gguf_api("gguf_set_val_str"));
  auto set_u32 =
      reinterpret_cast<void (*)(void*, const char*, uint32_t)>(gguf_api("gguf_set_val_u32"));
  auto set_f32 =
      reinterpret_cast<void (*)(void*, const char*, float)>(gguf_api("gguf_set_val_f32"));
  auto add_tensor = reinterpret_cast<void (*)(void*, const void*)>(gguf_api("gguf_add_tensor"));
  auto write = reinterpret_cast<bool (*)(const void*, const char*, bool)>(
      gguf_api("gguf_write_to_file"));
  auto meta_size = reinterpret_cast<size_t (*)(const void*)>(gguf_api("gguf_get_meta_size"));
  auto nbytes = base_fn<size_t (*)(const void*)>("ggml_nbytes");

  void* gguf = gguf_init_empty();
  for (const MetaKv& kv : kvs) {
    switch (kv.kind) {
      case MetaKv::kString: set_str(gguf, kv.key.c_str(), kv.str.c_str()); break;
      case MetaKv::kU32: set_u32(gguf, kv.key.c_str(), kv.u32); break;
      case MetaKv::kF32: set_f32(gguf, kv.key.c_str(), kv.f32); break;
    }
  }
  void* ctx = new_tensor_context(tensors.size());
  uint64_t data_bytes = 0;
  for (const TensorSpec& t : tensors) {
    void* tensor = new_named_tensor(ctx, t);
    add_tensor(gguf, tensor);
    data_bytes += (nbytes(tensor) + 31) / 32 * 32;  // GGUF_DEFAULT_ALIGNMENT
  }
  bool ok = write(gguf, path.c_str(), /*only_meta=*/true);
  if (ok) {
    std::error_code ec;
    std::filesystem::resize_file(path, meta_size(gguf) + data_bytes, ec);
    ok = !ec;
  }
  base_fn<void (*)(void*)>("ggml_free")(ctx);
  gguf_free(gguf);
  return ok;
}

DryRunResult quantize_dry_run(const std::string& in, QuantizeParams params) {
  params.dry_run = true;
  DryRunResult out;
  {
    LogCapture capture(&out.log);
    out.ok = model_quantize(in, in + ".unused", params) == 0;
  }
  // One line per tensor: "[  i/  n] NAME - [shape], type = SRC, size = ..."
  // ending in "(DST)" when the tensor changes type.
  size_t pos = 0;
  while (pos < out.log.size()) {
    size_t end = out.log.find('\n', pos);
    if (end == std::string::npos) end = out.log.size();
    const std::string line = out.log.substr(pos, end - pos);
    pos = end + 1;
    if (line.find("will require an imatrix") != std::string::npos) out.imatrix_warning = true;
    if (line.empty() || line[0] != '[') continue;
    const size_t name_at = line.find("] ");
    const size_t type_at = line.find(", type = ");
    if (name_at == std::string::npos || type_at == std::string::npos) continue;
    // The name is padded to 36 columns and may itself contain spaces.
    const size_t name_begin = name_at + 2;
    size_t name_end = line.find(" - [", name_begin);
    if (name_end == std::string::npos) continue;
    while (name_end > name_begin && line[name_end - 1] == ' ') --name_end;
    out.names.push_back(line.substr(name_begin, name_end - name_begin));
    size_t src_begin = type_at + 9;
    while (src_begin < line.size() && line[src_begin] == ' ') ++src_begin;
    const std::string src = line.substr(src_begin, line.find(',', src_begin) - src_begin);
    std::string dst = src;
    if (!line.empty() && line.back() == ')') {
      const size_t open = line.rfind('(');
      dst = line.substr(open + 1, line.size() - open - 2);
    }
    out.types.push_back(type_id_from_ggml_name(dst));
  }
  return out;
}

}  // namespace apex::oracle
