# APEX i-compact: Compact with a diverse imatrix; best accuracy at this size
#
# From mudler/apex-quant (commit 8652828): the types are scripts/generate_config.sh's
# profile "i-compact", the base ftype is the one scripts/quantize.sh passes to
# llama-quantize for "i-compact". The I-variant is the same plan quantized with a diverse imatrix.
# Types are spelled as generate_config.sh prints them, so
# `apex plan --emit-tensor-type-file` reproduces that script's file line for line
# (llama-quantize reads type names case-insensitively).
name      i-compact
about     Compact with a diverse imatrix; best accuracy at this size
base      Q4_K_M
imatrix   recommended

# role           layers       type
routed_experts   edge         Q4_K
routed_experts   near_edge    Q3_K
routed_experts   middle       Q3_K
shared_experts   edge         Q6_K
shared_experts   all          Q6_K
attention        attn_edge    Q4_K
attention        all          Q4_K
# generate_config.sh gives the linear-attention (SSM) tensors the attention types.
ssm              attn_edge    Q4_K
ssm              all          Q4_K
