"""`cifer inference`: the FHE inference service of seed 004. It evaluates the models of
`cifer.fhe` on CKKS ciphertexts and never sees a plaintext or a secret key."""
