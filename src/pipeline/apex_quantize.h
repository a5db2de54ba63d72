// `apex quantize --profile P`: an APEX tier as a quantize job. The profile's
// plan (plan/apex_plan.h) supplies the base ftype and the tensor-type lines,
// so the job is exactly llama-quantize with P's base ftype and P's
// tensor-type file -- plus apex.* metadata saying which tier the file is.
#pragma once

#include <vector>

#include "gguf/gguf.h"
#include "pipeline/quantize_model.h"
#include "plan/apex_plan.h"
#include "plan/profile.h"
#include "util/status.h"

namespace apex::pipeline {

// Plans job.input with `profile` and fills the job: ftype (the profile's
// base, or base_override), the tensor-type lines after any --tensor-type
// items already in job.rules.overrides, and the apex.* keys. Unless the job
// is a dry run, refuses a plan that needs an importance matrix when
// job.imatrix_path is empty, naming the tensors and the flag.
Result<plan::Plan> apply_profile(QuantizeJob& job, const plan::Profile& profile,
                                 const plan::FtypeInfo* base_override = nullptr);

// apex.profile, apex.version, apex.base_ftype and apex.plan (plan_summary),
// appended after llama-quantize's keys.
std::vector<gguf::KeyValue> apex_metadata(const plan::Plan& plan);

}  // namespace apex::pipeline
