// The APEX planner: for a model (its facts and tensor list) and a profile,
// every tensor's role, layer class and type, the bytes it will take, and the
// totals -- the exact quantized size before anything is written. It needs no
// weights, so it also plans from a list of shapes (read_shapes_json).
//
// The types are not computed from the profile directly: the planner writes
// the profile as a llama-quantize tensor-type file (profile.h) and runs
// llama.cpp's own rules (llama_rules.h) with the profile's base ftype and
// those lines, which is exactly what APEX's quantize.sh does with
// llama-quantize. So the plan, and a file quantized from it, match that
// recipe by construction, fallbacks and all.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plan/llama_rules.h"
#include "plan/profile.h"
#include "plan/roles.h"
#include "util/status.h"

namespace apex::plan {

struct PlanOptions {
  bool has_imatrix = false;                 // changes nothing for K-quant bases; recorded
  const FtypeInfo* base_override = nullptr; // --base-ftype: replaces the profile's base
  // --tensor-type items given with a profile: they come first, so they win.
  TensorTypeOverrides user_overrides;
};

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> ne;
  quant::TypeId src_type;
  Role role;
  int layer = -1;               // -1: not a blk.N tensor
  std::string layer_class;      // "edge", "near_edge", "middle", "attn_edge", "attn_middle" or "-"
  quant::TypeId type;           // type in the output
  uint64_t src_bytes = 0, bytes = 0;
  int64_t n_elements = 0;
  bool quantized = false;       // converted (false: copied unchanged)
  ChoiceSource source = ChoiceSource::kNotQuantized;
  bool fell_back = false;
  bool needs_imatrix = false;   // llama.cpp refuses this tensor without an imatrix
};

struct RoleTotal {
  Role role;
  int n_tensors = 0;
  int64_t n_elements = 0;
  uint64_t src_bytes = 0, bytes = 0;
};

struct Plan {
  std::string profile;          // profile name
  std::string profile_source;   // "built-in", "custom" or a path
  const FtypeInfo* base = nullptr;
  ModelFacts facts;
  std::vector<TensorTypeLine> lines;   // the tensor-type file
  QuantizeOptions rules;               // base ftype + user overrides + lines
  std::vector<PlannedTensor> tensors;  // llama.cpp's processing (= output) order
  std::vector<size_t> order;           // order[i]: index in the input list of tensors[i]
  std::vector<RoleTotal> roles;        // roles present, in enum order
  uint64_t src_bytes = 0, bytes = 0;   // tensor data
  int64_t n_elements = 0;
  std::vector<std::string> other_tensors;       // role "other"
  std::vector<std::string> needs_imatrix;       // tensors llama.cpp refuses without one
  std::vector<std::string> warnings;            // e.g. no expert tensors
  bool imatrix_recommended = false;

  double bpw() const { return n_elements ? 8.0 * bytes / n_elements : 0.0; }
};

Result<Plan> make_plan(const ModelFacts& facts, std::span<const TensorDesc> file_order, const Profile& profile,
                       const PlanOptions& options = {});

// A one-line summary for the apex.plan metadata key, e.g.
// "quality base=Q6_K layers=40 routed_experts=Q6_K:10,Q5_K:10,IQ4_XS:20 ...":
// per role, each output type with its tensor count.
std::string plan_summary(const Plan& plan);

// `apex plan` output: a per-tensor table (optional), totals and the per-role
// breakdown, warnings and unrecognised tensors.
std::string format_plan_text(const Plan& plan, bool per_tensor);
nlohmann::json plan_to_json(const Plan& plan);

// A model described by shapes alone, for planning published models without
// their weights. JSON:
//   { "architecture": "qwen3moe", "block_count": 48, "expert_count": 128,
//     "head_count": 32, "head_count_kv": 4, "embedding_length": 2048,
//     "tensors": [ {"name": "token_embd.weight", "shape": [2048, 151936], "type": "BF16"}, ... ],
//     "layer_tensors": [ {"name": "attn_q.weight", "shape": [2048, 4096], "layers": "0-47"}, ... ] }
// layer_tensors are repeated as blk.N.<name> for each layer N in "layers"
// (default: every layer; ranges "a-b", "a-b/step", comma-separated). "type"
// defaults to BF16 for 2-D+ shapes and F32 for 1-D. Errors name the file and
// the entry.
struct ShapesModel {
  ModelFacts facts;
  std::vector<TensorDesc> tensors;
};
Result<ShapesModel> read_shapes_json(const std::string& path);
Result<ShapesModel> parse_shapes_json(const nlohmann::json& j, const std::string& source);

}  // namespace apex::plan
