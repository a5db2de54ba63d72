// Importance matrices: per-column statistics of the activations that reach
// each weight matrix, which the imatrix-aware quantizers use as weights.
//
// Two file formats exist (written by llama-imatrix, read by llama-quantize):
//  - legacy ".dat": int32 entry count; per entry int32 name length, name,
//    int32 ncall, int32 nval, nval float32; then an optional trailer with the
//    int32 chunk count and an int32-length-prefixed dataset name. Stored values
//    are already means scaled by ncall (mean * ncall).
//  - GGUF (general.type = "imatrix"): per weight, an F32 tensor
//    "<weight>.in_sum2" [ne0, n_mat] holding raw sums of squared activations
//    and an F32 tensor "<weight>.counts" [1, n_mat] holding how many rows went
//    into each matrix (n_mat = expert count for 3-D expert tensors, else 1),
//    plus imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size.
//
// load() turns either into the per-tensor float vectors that llama-quantize
// hands to llama_model_quantize (llama_model_imatrix_data), keyed by the
// weight's tensor name ("blk.0.ffn_up_exps.weight").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::imatrix {

enum class Format { kLegacyDat, kGguf };
const char* format_name(Format f);

struct Entry {
  std::string name;  // the weight tensor's name, e.g. "blk.3.attn_q.weight"
  // As stored: .dat values (mean * ncall) or GGUF in_sum2 (raw sums).
  std::vector<float> sums;
  // .dat: one element, ncall. GGUF: one count per matrix (rounded to integer
  // as upstream does), so sums.size() == counts.size() * ne0.
  std::vector<int64_t> counts;
  // The importance weights handed to the quantizer, same length as sums:
  //   .dat:  sums / ncall (sums unchanged when ncall <= 0);
  //   GGUF:  sums / count of the matrix, or 1 for a matrix with count <= 0
  //          (an expert that saw no tokens gets neutral weights).
  // For 3-D expert tensors the vector holds ne0 floats per expert, back to back.
  std::vector<float> values;

  int64_t n_mat() const { return static_cast<int64_t>(counts.size()); }
};

struct Imatrix {
  Format format = Format::kLegacyDat;
  std::vector<Entry> entries;          // in file order (GGUF: sorted by name)
  std::vector<std::string> datasets;   // .dat: zero or one; GGUF: imatrix.datasets
  int32_t chunk_count = 0;             // chunks the statistics were computed on
  int32_t chunk_size = 0;              // tokens per chunk (GGUF only; 0 for .dat)

  // The importance weights for a tensor name, or null.
  const std::vector<float>* find(std::string_view tensor_name) const;
  const Entry* find_entry(std::string_view tensor_name) const;
  // Rebuilds the name index; call after editing `entries` by hand.
  void reindex();

 private:
  std::unordered_map<std::string, size_t> index_;
};

// Fills e.values from e.sums and e.counts as llama-quantize normalises the
// given format (see Entry::values). load() does this; call it when building
// entries by hand.
void compute_values(Format format, Entry& e);

// Reads either format (detected by the GGUF magic, as llama-quantize falls
// back to the legacy reader when the file is not GGUF). Rejects truncated or
// inconsistent files, GGUF files without the imatrix metadata keys (which
// llama-quantize refuses) and non-finite importance values (which
// llama_model_quantize refuses); the error names the file and the entry.
Result<Imatrix> load(const std::string& path);

// Keeps only entries whose name contains one of `include` (when non-empty),
// then drops entries whose name contains one of `exclude`: llama-quantize's
// --include-weights / --exclude-weights (plain substring matches).
void filter(Imatrix& m, const std::vector<std::string>& include,
            const std::vector<std::string>& exclude);

// The metadata llama-quantize adds to its output when given an imatrix, in
// the order it passes them: quantize.imatrix.file (the path exactly as given
// on the command line, cut to 127 bytes), quantize.imatrix.dataset (first
// dataset, cut to 127 bytes; only when there is one),
// quantize.imatrix.entries_count (entries after filtering) and
// quantize.imatrix.chunks_count (only when > 0). Integers are UINT32 because
// llama_model_quantize writes every integer override with gguf_set_val_u32.
std::vector<gguf::KeyValue> quantize_metadata(const Imatrix& m, const std::string& path_as_given);

inline constexpr const char* kKeyFile = "quantize.imatrix.file";
inline constexpr const char* kKeyDataset = "quantize.imatrix.dataset";
inline constexpr const char* kKeyEntries = "quantize.imatrix.entries_count";
inline constexpr const char* kKeyChunks = "quantize.imatrix.chunks_count";

// Writes the legacy format. Entries of a .dat origin are written as stored
// (an exact round trip); entries of a GGUF origin are converted the way
// llama-imatrix's legacy writer does (ncall = ceil(max count / chunk_size),
// values = sums / count * ncall, a matrix without data stored as 1 * ncall;
// entries without any data skipped), which needs chunk_size > 0. The trailer
// names the last dataset.
Status save_dat(const Imatrix& m, const std::string& path);

// Writes the GGUF format, entries sorted by name as llama-imatrix does.
// Entries of a GGUF origin are written as stored. Entries of a .dat origin
// become one matrix with sums * chunk and count ncall * chunk, where chunk is
// m.chunk_size or `legacy_chunk_size` when that is 0 (a power of two keeps
// the loaded values bit-identical); an entry with ncall <= 0 keeps its values
// (sums * chunk with count chunk).
Status save_gguf(const Imatrix& m, const std::string& path, int32_t legacy_chunk_size = 512);

}  // namespace apex::imatrix
