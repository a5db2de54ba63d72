#include "oracle/oracle.h"

#include <dlfcn.h>

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

void quiet_log(int level, const char* text, void*) {
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
    // Pin one CPU variant so logits are reproducible across machines.
    if (std::getenv("GGML_BACKEND_PATH") == nullptr) {
      setenv("GGML_BACKEND_PATH", (dir + "/libggml-cpu-x64.so").c_str(), 1);
    }
    libs.ggml = open_lib(dir + "/libggml.v0.5.0.so");
    libs.llama = open_lib(dir + "/libllama.v0.5.0.so");
    using LogSet = void (*)(void (*)(int, const char*, void*), void*);
    reinterpret_cast<LogSet>(sym(libs.llama, "llama_log_set"))(quiet_log, nullptr);
    reinterpret_cast<LogSet>(sym(libs.ggml_base, "ggml_log_set"))(quiet_log, nullptr);
    reinterpret_cast<void (*)(const char*)>(sym(libs.ggml, "ggml_backend_load_all_from_path"))(
        dir.c_str());
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

}  // namespace apex::oracle
