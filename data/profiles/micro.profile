# APEX micro: Q3_K edge / IQ2_XS near-edge / IQ1_M middle experts (1.75 bpw); experimental
#
# From mudler/apex-quant (commit 8652828): the types are scripts/generate_config.sh's
# profile "micro", the base ftype is the one scripts/quantize.sh passes to
# llama-quantize for "micro".
# quantize.sh has no case for micro, so it passes its default base, Q6_K
# (scripts/apex_pipeline.sh uses IQ1_M for i-micro instead). IQ2_XS / IQ1_M
# experts need an imatrix.
# Types are spelled as generate_config.sh prints them, so
# `apex plan --emit-tensor-type-file` reproduces that script's file line for line
# (llama-quantize reads type names case-insensitively).
name      micro
about     Q3_K edge / IQ2_XS near-edge / IQ1_M middle experts (1.75 bpw); experimental
base      Q6_K
imatrix   recommended

# role           layers       type
routed_experts   edge         Q3_K
routed_experts   near_edge    iq2_xs
routed_experts   middle       iq1_m
shared_experts   edge         Q5_K
shared_experts   all          Q4_K
attention        attn_edge    Q4_K
attention        all          Q3_K
# generate_config.sh gives the linear-attention (SSM) tensors the attention types.
ssm              attn_edge    Q4_K
ssm              all          Q3_K
