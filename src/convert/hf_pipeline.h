// `apex pipeline`: APEX's --full-pipeline (seed 004) in one process, from a
// local Hugging Face checkpoint to evaluated tiers:
//   1. convert     HF_DIR -> OUT/<name>-<outtype>.gguf          (convert.h)
//   2. imatrix     on the calibration text -> OUT/imatrix.gguf  (imatrix/collect.h)
//   3. quantize    one file per profile -> OUT/<name>-<profile>.gguf
//                                                    (pipeline/apex_quantize.h)
//   4. evaluate    `apex eval` (eval/report.h) with the converted file as the
//                  base and every tier against it: size, bits per weight,
//                  perplexity, KL divergence, same-top, and the benchmarks of
//                  a --data folder; OUT/report.json, report.md, report.html.
// Each step's output is written through a temp file and renamed, so an
// existing output is complete: with `resume` (the default) a rerun skips
// the steps whose outputs exist and open cleanly.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "quant/type_id.h"
#include "util/status.h"

namespace apex::convert {

struct PipelineOptions {
  std::string hf_dir;
  std::string out_dir;
  std::vector<std::string> profiles;  // built-in names or profile files
  std::string imatrix_text;           // calibration text; empty: no imatrix
  std::string eval_text;              // perplexity text; empty: no evaluation
  quant::TypeId outtype = quant::TypeId::F16;
  int64_t imatrix_ctx = 512;
  int imatrix_chunks = -1;
  int64_t eval_ctx = 512;
  int eval_chunks = -1;
  std::string suite = "quick";        // eval suite (task counts)
  std::string data_dir;               // benchmark files for the eval (as ../shared/data); empty: none
  int threads = 0;
  std::string command;                // the command line, recorded in the report
  bool resume = true;
};

struct PipelineStep {
  std::string name;    // "convert", "imatrix", "quantize quality", "evaluate"
  std::string output;  // file written (or reused)
  bool skipped = false;  // output existed and was reused
  double seconds = 0;
};

struct PipelineRow {
  std::string label;   // outtype name for the converted file, else the profile
  std::string path;
  uint64_t file_bytes = 0;
  double bits_per_weight = 0;
  bool evaluated = false;
  double ppl = 0, ppl_stderr = 0;
  double kld = 0;  // mean KL divergence against the converted file (0 for it)
};

struct PipelineReport {
  std::vector<PipelineStep> steps;
  std::vector<PipelineRow> rows;  // converted file first, then the tiers
  int64_t eval_ctx = 0;
  int eval_chunks = 0;
  nlohmann::json eval;  // eval::to_json of the report (null without evaluation)
};

// Called when a step starts (index from 1) and with progress within it
// (done/total in the step's own units; 0/0 when unknown).
struct PipelineCallbacks {
  std::function<void(int index, int total, const std::string& step)> on_step;
  std::function<void(uint64_t done, uint64_t total, const std::string& detail)> on_progress;
};

Result<PipelineReport> run_pipeline(const PipelineOptions& opts, const PipelineCallbacks& cb = {});

nlohmann::json to_json(const PipelineReport& r);
// A Markdown summary table: file, size, bits per weight, PPL (+/-), KLD
// against the converted file.
std::string format_table(const PipelineReport& r);

}  // namespace apex::convert
