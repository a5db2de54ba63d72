// apex synth --arch A [shape flags] --seed S OUT.gguf: deterministic
// random-weight models that llama.cpp loads and runs.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "quant/type_table.h"
#include "synth/synth.h"
#include "util/progress.h"

namespace apex::cli {

Command make_synth() {
  struct Args {
    synth::Options opts;
    std::string type = "f16";
    std::string out;
    bool no_progress = false;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.setup = [args](CLI::App& app) {
    synth::Options& o = args->opts;
    CLI::App* sub = app.add_subcommand(
        "synth",
        "Write a deterministic random-weight model with an architecture's exact tensor\n"
        "names, shapes, metadata and a small SentencePiece-style vocabulary. Stock\n"
        "llama.cpp loads and runs it; use it to test quantization at any size.\n\n"
        "  apex synth --arch qwen3moe --layers 24 --embd 2048 --experts 64 --ff 768 big.gguf\n"
        "  apex synth --arch llama --experts 0 --layers 2 dense.gguf\n"
        "  apex synth --arch qwen35moe --layers 8 --experts 16 --ff-shared 256 q35.gguf\n"
        "  apex synth --arch gemma4 --layers 6 --full-attn-interval 6 --head-dim 128 --swa-head-dim 64 g4.gguf");
    sub->add_option("--arch", o.arch,
                    "qwen2moe, qwen3moe, llama (with --experts > 0 Mixtral-style), qwen35moe "
                    "(Qwen3.5/3.6 MoE: Gated DeltaNet blocks between full-attention blocks), gpt-oss, "
                    "deepseek2 (DeepSeek-V3 / Kimi-K2: multi-head latent attention), "
                    "minimax-m2 (sigmoid router, partial RoPE), olmoe (needs --kv-heads = --heads) or gemma4 "
                    "(Gemma 4 shaped like the 26B-A4B: sliding-window and global blocks, a dense FFN beside the experts)")
        ->capture_default_str();
    sub->add_option("--layers", o.n_layer, "number of blocks")->capture_default_str();
    sub->add_option("--embd", o.n_embd, "embedding width")->capture_default_str();
    sub->add_option("--heads", o.n_head, "attention heads")->capture_default_str();
    sub->add_option("--kv-heads", o.n_head_kv, "key/value heads (grouped-query attention)")->capture_default_str();
    sub->add_option("--head-dim", o.head_dim, "head width (0: embd / heads)")->capture_default_str();
    sub->add_option("--experts", o.n_expert, "routed experts (0 for a dense llama)")->capture_default_str();
    sub->add_option("--experts-used", o.n_expert_used, "experts per token")->capture_default_str();
    sub->add_option("--ff", o.n_ff, "expert FFN width (dense FFN width without experts)")->capture_default_str();
    sub->add_option("--ff-shared", o.n_ff_shared, "qwen2moe/qwen35moe shared-expert FFN width (0: --ff)")->capture_default_str();
    sub->add_option("--ssm-conv", o.ssm_d_conv, "qwen35moe: causal conv1d taps (ssm.conv_kernel)")->capture_default_str();
    sub->add_option("--ssm-state", o.ssm_d_state, "qwen35moe: linear-attention head width (ssm.state_size)")->capture_default_str();
    sub->add_option("--ssm-groups", o.ssm_n_group, "qwen35moe: linear-attention key heads (ssm.group_count)")->capture_default_str();
    sub->add_option("--ssm-heads", o.ssm_dt_rank, "qwen35moe: linear-attention value heads, a multiple of --ssm-groups (ssm.time_step_rank)")->capture_default_str();
    sub->add_option("--full-attn-interval", o.full_attention_interval, "qwen35moe: every n-th block is full attention, the others Gated DeltaNet; gemma4: every n-th block is global, the others sliding-window")->capture_default_str();
    sub->add_option("--mtp", o.n_mtp, "qwen35moe: multi-token-prediction blocks after the trunk (0 or 1; Qwen3.5's converter writes 1)")->capture_default_str();
    sub->add_option("--rope-dim", o.rope_dim, "qwen35moe, minimax-m2, deepseek2, gemma4 (global blocks): rotated dimensions per head (0: head-dim / 4; minimax-m2 head-dim / 2)")->capture_default_str();
    sub->add_option("--sliding-window", o.sliding_window, "gpt-oss: attention.sliding_window of the even (sliding-window) blocks; gemma4: of its sliding-window blocks")->capture_default_str();
    sub->add_option("--yarn-factor", o.yarn_factor, "gpt-oss, deepseek2: YaRN rope scaling factor (0: no scaling; gpt-oss: 32, DeepSeek-V3: 40)")->capture_default_str();
    sub->add_option("--yarn-orig-ctx", o.yarn_orig_context, "gpt-oss, deepseek2: YaRN original context length (rope.scaling.original_context_length)")->capture_default_str();
    sub->add_option("--yarn-beta-fast", o.yarn_beta_fast, "gpt-oss: YaRN beta_fast")->capture_default_str();
    sub->add_option("--yarn-beta-slow", o.yarn_beta_slow, "gpt-oss: YaRN beta_slow")->capture_default_str();
    sub->add_option("--swa-head-dim", o.head_dim_swa, "gemma4: head width of sliding-window blocks (0: --head-dim, which is the global blocks')")->capture_default_str();
    sub->add_option("--swa-kv-heads", o.n_head_kv_swa, "gemma4: KV heads of sliding-window blocks (0: --kv-heads, the global blocks')")->capture_default_str();
    sub->add_option("--rope-base", o.rope_freq_base, "RoPE frequency base (gemma4: of the global blocks)")->capture_default_str();
    sub->add_option("--swa-rope-base", o.rope_freq_base_swa, "gemma4: RoPE frequency base of sliding-window blocks")->capture_default_str();
    sub->add_option("--softcap", o.final_logit_softcapping, "gemma4: final_logit_softcapping (0: none)")->capture_default_str();
    sub->add_flag("--separate-gate-up{false}", o.fused_gate_up, "gemma4: ffn_gate_exps + ffn_up_exps instead of the fused ffn_gate_up_exps");
    sub->add_flag("--global-v{false}", o.k_eq_v, "gemma4: global blocks get attn_v (default: V is K, as in the 26B)");
    sub->add_flag("--no-expert-scale{false}", o.expert_down_scale, "gemma4: no per-expert ffn_down_exps.scale");
    sub->add_option("--per-layer-embd", o.n_embd_per_layer, "gemma4: per-layer embedding width (E2B/E4B; 0: none, as in the 26B)")->capture_default_str();
    sub->add_option("--vocab", o.n_vocab, "vocabulary size (>= 259)")->capture_default_str();
    sub->add_option("--q-lora-rank", o.q_lora_rank, "deepseek2: query low-rank width (0: a plain attn_q)")->capture_default_str();
    sub->add_option("--kv-lora-rank", o.kv_lora_rank, "deepseek2: compressed KV width (the MLA cache row)")->capture_default_str();
    sub->add_option("--v-head-dim", o.v_head_dim, "deepseek2: value head width (0: head-dim - rope-dim)")->capture_default_str();
    sub->add_option("--gating", o.expert_gating_func, "deepseek2: expert gating 1 softmax, 2 sigmoid with exp_probs_b")->capture_default_str();
    sub->add_option("--expert-groups", o.n_expert_groups, "deepseek2: expert groups (0: none)")->capture_default_str();
    sub->add_option("--expert-groups-used", o.n_group_used, "deepseek2: groups each token picks experts from")->capture_default_str();
    sub->add_option("--yarn-mscale-all-dim", o.yarn_mscale_all_dim, "deepseek2: YaRN mscale_all_dim (written as yarn_log_multiplier = 0.1 x this)")->capture_default_str();
    sub->add_option("--tokenizer", o.tokenizer_json,
                    "a Hugging Face tokenizer.json: write its vocabulary as llama.cpp's converter would "
                    "(the vocabulary size follows it)");
    sub->add_option("--tokenizer-config", o.tokenizer_config_json,
                    "its tokenizer_config.json (default: the one beside tokenizer.json)");
    sub->add_flag("--spm-vocab", o.spm_vocab,
                  "write the built-in SentencePiece vocabulary instead of the architecture's own BPE kind");
    sub->add_option("--ctx", o.context_length, "context length written to the metadata")->capture_default_str();
    sub->add_option("--type", args->type, "storage type of the matrices: f32, f16 or bf16")->capture_default_str();
    sub->add_option("--seed", o.seed, "random seed (same seed, same bytes)")->capture_default_str();
    sub->add_option("--name", o.name, "general.name (default apex-synth-ARCH)");
    sub->add_option("--threads,-t", o.n_threads, "generator threads (0: all cores)");
    sub->add_flag("--no-progress", args->no_progress, "no progress bar");
    sub->add_option("--layer-pattern", o.layer_pattern, "nemotron_h_moe: one letter per block, M Mamba-2, * attention, E MoE FFN (default MEMEM*E repeated)");
    sub->add_option("--ssm-inner", o.ssm_d_inner, "nemotron_h_moe: Mamba-2 inner width, --ssm-heads x head width (ssm.inner_size; 0: 2 x embd)")->capture_default_str();
    sub->add_option("--expert-scale", o.expert_weights_scale, "nemotron_h_moe, glm4moe, deepseek2: routed_scaling_factor on the expert weights (0: none)")->capture_default_str();
    sub->add_option("--expert-norm", o.expert_weights_norm, "nemotron_h_moe, glm4moe, deepseek2: renormalise the top-k expert weights (true/false)")->capture_default_str();
    sub->add_option("--dense-lead", o.n_dense_lead, "glm4moe, deepseek2: leading blocks with a dense FFN (leading_dense_block_count); --mtp 1 adds the MTP block, --rope-dim defaults to head-dim / 2")->capture_default_str();
    sub->add_option("--ff-dense", o.n_ff_dense, "glm4moe, deepseek2: dense FFN width of those blocks; gemma4: of the dense FFN beside the experts (0: 2 * --ff)")->capture_default_str();
    sub->add_option("--shared-experts", o.n_expert_shared, "glm4moe, deepseek2: shared experts (shared FFN width --ff times this)")->capture_default_str();
    sub->add_option("--qk-norm", o.qk_norm, "glm4moe: per-head q/k RMS norms (1, as GLM-4.5-355B; 0 as GLM-4.5-Air)")->capture_default_str();
    sub->add_option("out", args->out, "output GGUF file")->required();
    return sub;
  };
  c.run = [args]() {
    auto type = quant::parse_type_name(args->type);
    if (!type.ok()) return fail("--type: " + type.message());
    if (*type != quant::TypeId::F32 && *type != quant::TypeId::F16 && *type != quant::TypeId::BF16) {
      return fail(fmt::format("--type: {} is not a float type (valid: f32, f16, bf16)", args->type));
    }
    args->opts.weight_type = *type;
    auto layout = synth::make_layout(args->opts);
    if (!layout.ok()) return fail(layout.message());
    ProgressBar bar("synth", layout->total_bytes(), !args->no_progress && ProgressBar::stderr_is_terminal());
    uint64_t last = 0;
    Status s = synth::write_model(args->opts, args->out,
                                  [&](uint64_t done, uint64_t, std::string_view tensor) {
                                    bar.advance(done - last, std::string(tensor));
                                    last = done;
                                  });
    bar.finish();
    if (!s.ok()) return fail(s.message());
    fmt::print("wrote {} ({} {} layers, {} experts, {:.1f} MiB)\n", args->out, args->opts.arch,
               args->opts.n_layer, args->opts.n_expert, layout->total_bytes() / 1048576.0);
    return 0;
  };
  return c;
}

static const CommandRegistration kRegistered{40, make_synth};

}  // namespace apex::cli
