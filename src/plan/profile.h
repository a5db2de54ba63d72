// APEX profiles: which type each tensor role gets in each layer class, plus
// the base ftype that decides everything the profile leaves open. A profile
// is data -- a small text file per tier in data/profiles/, compiled into the
// binary -- and the planner interprets it.
//
// The file format, one item per line, '#' starts a comment:
//
//   name      quality                  # tier name (a user file defaults to its stem)
//   about     free text to the end of the line
//   base      Q6_K                     # ftype passed to the llama.cpp rules
//   imatrix   optional | recommended   # recommended: an I-variant (warn without one)
//   edge_layers 5  near_edge_layers 5  attn_edge_layers 3   (one per line; these defaults)
//   ROLE      LAYERS    TYPE           # a rule, e.g. "routed_experts middle IQ4_XS"
//
// ROLE is a quantizable role of roles.h; LAYERS one of
//   edge        the first and last edge_layers layers
//   near_edge   the next near_edge_layers layers on each side (not edge)
//   middle      the rest
//   attn_edge   the first and last attn_edge_layers layers
//   attn_middle the rest
//   all         every layer
// For a tensor of layer i the first rule naming its role and a class that
// contains i decides the type; with no such rule the base ftype's mixture
// rules decide. These classes are generate_config.sh's, for any layer count
// (with fewer than 20 layers the classes overlap exactly as in the script:
// edge wins, then near_edge).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plan/ftype.h"
#include "plan/llama_rules.h"
#include "plan/roles.h"
#include "quant/type_id.h"
#include "util/status.h"

namespace apex::plan {

enum class LayerClass { kEdge, kNearEdge, kMiddle, kAttnEdge, kAttnMiddle, kAll };
const char* layer_class_name(LayerClass c);

struct ProfileRule {
  Role role;
  LayerClass layers;
  quant::TypeId type;
  std::string type_text;  // as written (tensor-type files echo this spelling)
  int line = 0;           // line in the profile file
};

struct Profile {
  std::string name;
  std::string about;
  std::string source;                 // "built-in", "custom" or the file path
  const FtypeInfo* base = nullptr;    // never null after parsing
  bool imatrix_recommended = false;
  int edge_layers = 5;
  int near_edge_layers = 5;
  int attn_edge_layers = 3;
  std::vector<ProfileRule> rules;

  bool in_class(LayerClass c, int layer, int n_layer) const;
  // The first rule for `role` whose class contains `layer`, or null.
  const ProfileRule* rule_for(Role role, int layer, int n_layer) const;
  // The expert-gradient class of a layer: kEdge, kNearEdge or kMiddle.
  LayerClass gradient_class(int layer, int n_layer) const;
  // kAttnEdge or kAttnMiddle.
  LayerClass attention_class(int layer, int n_layer) const;
};

// Parses a profile file's text; errors name "<source>:<line>".
Result<Profile> parse_profile(std::string_view text, std::string_view source);

// The profiles installed with the binary, by name (data/profiles/*.profile).
std::vector<std::string> builtin_profile_names();
// A built-in profile; the error lists the valid names.
Result<Profile> builtin_profile(std::string_view name);
// A built-in name, or the path of a profile file (anything with a '/' or
// ending in ".profile", or an existing file).
Result<Profile> load_profile(std::string_view name_or_path);

// generate_config.sh's --custom flags. Empty strings take the script's
// defaults: near/mid experts = edge experts, edge shared Q8_0, mid shared =
// edge shared, edge attention Q6_K, mid attention = edge attention; base Q6_K
// (quantize.sh's default). edge_experts is required.
struct CustomTypes {
  std::string edge_experts, near_experts, mid_experts;
  std::string edge_shared, mid_shared;
  std::string edge_attn, mid_attn;
  std::string base;
};
Result<Profile> custom_profile(const CustomTypes& t);

// One line of a llama-quantize tensor-type file.
struct TensorTypeLine {
  std::string pattern;    // "blk.7.ffn_up_exps" (a regex searched in the name)
  std::string type_text;  // as the profile spells it
  Role role;
  int layer;
};

// The tensor-type file for a model of n_layer layers. Per layer, in
// generate_config.sh's order, one line for each tensor stem the script
// writes (ffn_{gate,up,down}_exps, ffn_{gate,up,down}_shexp,
// attn_{q,k,v,output,gate,qkv}, ssm_{alpha,beta,out}) whose role has a rule
// for that layer -- so for the shipped profiles the lines equal the script's
// output. Then, when `tensors` is given, one line for each further tensor of
// that layer (a 2-D+ matrix) whose role has a rule but which no earlier line
// of the layer matches (ffn_gate_up_exps, ssm_in, ...).
std::vector<TensorTypeLine> tensor_type_lines(const Profile& profile, int n_layer,
                                              std::span<const TensorDesc> tensors = {});
// "pattern=type\n" per line, as generate_config.sh prints them.
std::string tensor_type_file_text(std::span<const TensorTypeLine> lines);

}  // namespace apex::plan
