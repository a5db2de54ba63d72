# APEX mini: Q3_K edge / IQ2_S middle experts, Q5_K/Q4_K shared, Q4_K/Q3_K attention; 16 GB VRAM
#
# From mudler/apex-quant (commit 8652828): the types are scripts/generate_config.sh's
# profile "mini", the base ftype is the one scripts/quantize.sh passes to
# llama-quantize for "mini". IQ2_S middle-layer experts need an imatrix (apex refuses without one).
# Types are spelled as generate_config.sh prints them, so
# `apex plan --emit-tensor-type-file` reproduces that script's file line for line
# (llama-quantize reads type names case-insensitively).
name      mini
about     Q3_K edge / IQ2_S middle experts, Q5_K/Q4_K shared, Q4_K/Q3_K attention; 16 GB VRAM
base      Q3_K_M
imatrix   recommended

# role           layers       type
routed_experts   edge         Q3_K
routed_experts   near_edge    Q3_K
routed_experts   middle       iq2_s
shared_experts   edge         Q5_K
shared_experts   all          Q4_K
attention        attn_edge    Q4_K
attention        all          Q3_K
# generate_config.sh gives the linear-attention (SSM) tensors the attention types.
ssm              attn_edge    Q4_K
ssm              all          Q3_K
