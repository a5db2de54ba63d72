// The llama.cpp oracle: prebuilt libggml-base / libllama from the npm package
// @node-llama-cpp/linux-x64@3.22.1, loaded with dlopen and declared here by
// hand (struct layouts checked against that build; see ../shared/ORACLE.md).
// Tests and benchmarks compare apex against it; apex itself never links it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace apex::oracle {

// Directory with the oracle's shared libraries (APEX_ORACLE_DIR or the
// environment variable of the same name).
std::string library_dir();
// True when the libraries are present; tests skip with a message otherwise
// only when APEX_ALLOW_NO_ORACLE=1 (scripts/test.sh always installs them).
bool available();

// ---- libggml-base ---------------------------------------------------------
struct GgmlTypeTraits {  // ggml_type_traits of this build
  const char* type_name;
  int64_t blck_size;
  int64_t blck_size_interleave;
  size_t type_size;
  bool is_quantized;
  void (*to_float)(const void* x, float* y, int64_t k);
  void (*from_float_ref)(const float* x, void* y, int64_t k);
};

// ggml_quantize_chunk(type, src, dst, start, nrows, n_per_row, imatrix).
size_t quantize_chunk(int type, const float* src, void* dst, int64_t start, int64_t nrows,
                      int64_t n_per_row, const float* imatrix);
// The same in a forked child: the oracle's bytes, or nothing when ggml aborts
// on this input (its i-quant neighbour searches GGML_ASSERT on rows whose
// squares overflow, e.g. values near 1e30). The child inherits the parent's
// state, so call quantize_chunk once in the parent first to build any lookup
// grids there instead of in every child.
std::optional<std::vector<uint8_t>> quantize_chunk_isolated(int type, const float* src, int64_t nrows,
                                                            int64_t n_per_row, const float* imatrix,
                                                            size_t nbytes);
const GgmlTypeTraits* type_traits(int type);
bool quantize_requires_imatrix(int type);
// Dequantize with the oracle's to_float.
void to_float(int type, const void* src, float* dst, int64_t n);
// ggml_validate_row_data(type, data, nbytes)
bool validate_row_data(int type, const void* data, size_t nbytes);

// The oracle's own GGUF API, to prove our reader/writer against it.
void* gguf_api(const char* symbol);  // dlsym in libggml-base; aborts if missing

// ---- libllama -------------------------------------------------------------
struct TensorTypeOverride {  // llama_model_tensor_override
  const char* pattern;
  int32_t type;
};
struct ImatrixEntry {  // llama_model_imatrix_data
  const char* name;
  const float* data;
  size_t size;
};
struct KvOverride {  // llama_model_kv_override (tag: 0 int, 1 float, 2 bool, 3 str)
  int32_t tag;
  char key[128];
  union {
    int64_t val_i64;
    double val_f64;
    bool val_bool;
    char val_str[128];
  };
};
static_assert(sizeof(KvOverride) == 264);

struct QuantizeParams {  // llama_model_quantize_params (64 bytes in this build)
  int32_t nthread;
  int32_t ftype;
  int32_t output_tensor_type;    // ggml type, 43 (COUNT) = default
  int32_t token_embedding_type;  // ggml type, 43 (COUNT) = default
  bool allow_requantize;
  bool quantize_output_tensor;
  bool only_copy;
  bool pure;
  bool keep_split;
  bool dry_run;
  const ImatrixEntry* imatrix;
  const KvOverride* kv_overrides;
  const TensorTypeOverride* tt_overrides;
  const int32_t* prune_layers;
  size_t max_buf_size;
};
static_assert(sizeof(QuantizeParams) == 64);

QuantizeParams default_quantize_params();

// What llama-quantize hands llama_model_quantize for `--imatrix FILE`: the
// importance vectors (null-terminated) and the quantize.imatrix.* keys as kv
// overrides (terminated by an empty key). Keeps the storage alive for as
// long as the params point into it.
class ImatrixParams {
 public:
  // Loads FILE with apex's reader (proven equal to llama.cpp's own loader);
  // false when it does not load.
  bool load(const std::string& path_as_given);
  // Points p.imatrix and p.kv_overrides at this object's storage.
  void apply(QuantizeParams& p) const;

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<float>> values_;
  std::vector<ImatrixEntry> entries_;
  std::vector<KvOverride> kvs_;
};
// llama_model_quantize; returns 0 on success. Its log goes to stderr only when
// APEX_ORACLE_VERBOSE=1.
uint32_t model_quantize(const std::string& in, const std::string& out, const QuantizeParams& p);

// Loads a model on the CPU, evaluates `tokens` in one sequence (batches of up
// to n_batch) and returns the logits of every position, n_vocab per row.
// Returns false (with `error` set) when the model does not load or decode.
struct LogitsResult {
  bool ok = false;
  std::string error;
  int32_t n_vocab = 0;
  std::vector<float> logits;  // [n_tokens][n_vocab]
};
LogitsResult eval_logits(const std::string& model_path, const std::vector<int32_t>& tokens,
                         int n_threads = 2, int n_ctx = 0);

// Speed of llama.cpp on the CPU: n_prompt tokens decoded in batches of up to
// 512 (prompt processing), then n_gen tokens one at a time (generation), in
// a fresh context; wall seconds of each phase (model load not included).
struct SpeedResult {
  bool ok = false;
  std::string error;
  double prompt_seconds = 0;
  double gen_seconds = 0;
};
SpeedResult measure_speed(const std::string& model_path, int n_prompt, int n_gen, int n_threads);

// Tokenizes with the model's vocabulary (vocab_only load).
bool tokenize(const std::string& model_path, const std::string& text, bool add_special,
              bool parse_special, std::vector<int32_t>& out);

// ---- libllama: the tensor type choice of llama_model_quantize -------------
// llama.cpp exports its type-choice helpers (src/llama-ext.h) as C++ symbols;
// they run the same functions as llama_model_quantize on a mock model, with
// two differences: has_imatrix is always false, and the tensors are taken in
// the order given (llama_model_quantize sorts them, see
// llama_model_loader::weight_name_comparer).
struct QuantModelDesc {  // llama_quant_model_desc
  const char* architecture;
  uint32_t n_embd;
  uint32_t n_ff;
  uint32_t n_layer;
  uint32_t n_head;
  uint32_t n_head_kv;
  uint32_t n_expert;
  uint32_t n_embd_head_k;
  uint32_t n_embd_head_v;
};

struct TensorSpec {
  std::string name;         // at most 63 bytes (GGML_MAX_NAME)
  std::vector<int64_t> ne;  // 1..4 dims, ggml order
  int32_t type = 0;         // ggml type id
};

struct TensorTypes {
  bool ok = false;
  std::string error;           // what llama.cpp threw while choosing
  std::vector<bool> allows;    // llama_quant_tensor_allows_quantization per tensor
  std::vector<int32_t> types;  // llama_quant_compute_types per tensor
  std::string log;             // llama.cpp's log while choosing (fallback warnings)
};

// A mock model (llama_quant_model_from_metadata) and data-less ggml tensors.
class QuantTypeModel {
 public:
  QuantTypeModel(const QuantModelDesc& desc, const std::vector<TensorSpec>& tensors);
  ~QuantTypeModel();
  QuantTypeModel(const QuantTypeModel&) = delete;
  QuantTypeModel& operator=(const QuantTypeModel&) = delete;
  // llama_quant_init(params) + llama_quant_compute_types(params.ftype) over
  // every tensor. Set capture_log to collect the warnings (slower).
  TensorTypes compute(const QuantizeParams& params, bool capture_log = false) const;

 private:
  void* model_ = nullptr;
  void* ctx_ = nullptr;
  std::vector<void*> tensors_;
};

// llama_ftype_get_default_type(ftype): a ggml type id, 43 (COUNT) for none.
int32_t ftype_default_type(int32_t ftype);

// The ggml type id whose name (ggml_type_name) equals `name` exactly, or -1.
int32_t type_id_from_ggml_name(const std::string& name);

// A GGUF file (written with the oracle's own gguf API) holding `kvs` and the
// tensor infos of `tensors`, with all-zero (sparse) data: enough for
// llama_model_quantize's dry run, which never reads tensor data.
struct MetaKv {
  enum Kind { kString, kU32, kF32 } kind;
  std::string key;
  std::string str;
  uint32_t u32 = 0;
  float f32 = 0;
};
bool write_skeleton_gguf(const std::string& path, const std::vector<MetaKv>& kvs,
                         const std::vector<TensorSpec>& tensors);

// llama_model_quantize with dry_run set: the full path (file loading, tensor
// order, model type, imatrix flag) without writing anything. The chosen
// types are read back from its log.
struct DryRunResult {
  bool ok = false;               // llama_model_quantize returned 0
  std::vector<std::string> names;  // tensors in processing order
  std::vector<int32_t> types;    // their target types
  bool imatrix_warning = false;  // "... will require an imatrix!"
  std::string log;
};
DryRunResult quantize_dry_run(const std::string& in, QuantizeParams params);

}  // namespace apex::oracle
