# APEX balanced: 2-tier expert gradient (Q6_K edges, Q5_K elsewhere); general purpose
#
# From mudler/apex-quant (commit 8652828): the types are scripts/generate_config.sh's
# profile "balanced", the base ftype is the one scripts/quantize.sh passes to
# llama-quantize for "balanced".
# Types are spelled as generate_config.sh prints them, so
# `apex plan --emit-tensor-type-file` reproduces that script's file line for line
# (llama-quantize reads type names case-insensitively).
name      balanced
about     2-tier expert gradient (Q6_K edges, Q5_K elsewhere); general purpose
base      Q6_K
imatrix   optional

# role           layers       type
routed_experts   edge         Q6_K
routed_experts   near_edge    Q5_K
routed_experts   middle       Q5_K
shared_experts   edge         Q8_0
shared_experts   all          Q8_0
attention        attn_edge    Q6_K
attention        all          Q6_K
# generate_config.sh gives the linear-attention (SSM) tensors the attention types.
ssm              attn_edge    Q6_K
ssm              all          Q6_K
