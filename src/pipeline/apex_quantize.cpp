#include "pipeline/apex_quantize.h"

#include <fmt/format.h>

#include "quant/type_table.h"

namespace apex::pipeline {

Result<plan::Plan> apply_profile(QuantizeJob& job, const plan::Profile& profile,
                                 const plan::FtypeInfo* base_override) {
  APEX_ASSIGN_OR_RETURN(auto file, gguf::File::open(job.input));
  APEX_ASSIGN_OR_RETURN(plan::ModelFacts facts, plan::model_facts_from_gguf(*file));
  plan::PlanOptions options;
  options.has_imatrix = !job.imatrix_path.empty();
  options.base_override = base_override;
  options.user_overrides = job.rules.overrides;
  APEX_ASSIGN_OR_RETURN(plan::Plan p, plan::make_plan(facts, plan::tensor_descs(*file), profile, options));

  if (!job.dry_run && job.imatrix_path.empty() && !p.needs_imatrix.empty()) {
    std::string examples;
    for (size_t i = 0; i < p.needs_imatrix.size() && i < 3; ++i) {
      const std::string& name = p.needs_imatrix[i];
      for (const auto& t : p.tensors) {
        if (t.name == name) examples += fmt::format("{}{} ({})", i ? ", " : "", name, quant::type_name(t.type));
      }
    }
    return make_error("profile {} needs an importance matrix for {} tensor{} ({}{}): pass --imatrix FILE",
                      profile.name, p.needs_imatrix.size(), p.needs_imatrix.size() == 1 ? "" : "s", examples,
                      p.needs_imatrix.size() > 3 ? ", ..." : "");
  }
  job.ftype = p.base;
  job.rules.overrides = p.rules.overrides;
  job.extra_metadata = apex_metadata(p);
  return p;
}

std::vector<gguf::KeyValue> apex_metadata(const plan::Plan& plan) {
  return {
      {"apex.profile", gguf::Value(plan.profile)},
      {"apex.version", gguf::Value(std::string(APEX_VERSION))},
      {"apex.base_ftype", gguf::Value(std::string(plan.base->name))},
      {"apex.plan", gguf::Value(plan::plan_summary(plan))},
  };
}

}  // namespace apex::pipeline
